//! Events as the wire carries them: a prepared dataset replayed as events and encoded again
//! with the same encoder gives back the same ids and (within float rounding) the same
//! normalised numbers; the JSON round-trips; bad events are errors naming the event and field.

mod common;

use std::sync::Arc;

use common::Fixture;
use recforge_data::{Column, Event, FeatureValue, Schema, encode_events, prepare, write_synthetic_ctr};

#[test]
fn replayed_events_encode_back_to_the_prepared_rows() {
    let fx = Fixture::new();
    let schema_path = write_synthetic_ctr(fx.dir.path(), 500, 3).unwrap();
    let (data, _) = prepare(&Schema::from_toml_file(&schema_path).unwrap(), &fx.options()).unwrap();
    let encoder = data.encoder.clone().unwrap();
    let events: Vec<Event> = (0..data.len()).map(|r| Event::from_dataset_row(&data, &encoder, r)).collect();
    for event in &events[..20] {
        assert_eq!(&Event::from_bytes(&event.to_bytes(), "test").unwrap(), event);
    }
    let again = encode_events(&Arc::clone(&encoder), &events).unwrap();
    assert_eq!(again.labels, data.labels);
    assert_eq!(again.example_ids, data.example_ids);
    assert_eq!(again.timestamps, data.timestamps);
    assert_eq!(again.layout(), data.layout());
    for (a, b) in again.columns.iter().zip(&data.columns) {
        match (a, b) {
            (Column::Numeric(x), Column::Numeric(y)) => {
                assert!(x.iter().zip(y).all(|(x, y)| (x - y).abs() < 1e-4), "numbers survive the round trip");
            }
            _ => assert_eq!(a, b),
        }
    }
}

#[test]
fn malformed_events_are_clear_errors() {
    let fx = Fixture::new();
    let schema_path = write_synthetic_ctr(fx.dir.path(), 200, 3).unwrap();
    let (data, _) = prepare(&Schema::from_toml_file(&schema_path).unwrap(), &fx.options()).unwrap();
    let encoder = data.encoder.clone().unwrap();
    let mut event = Event::from_dataset_row(&data, &encoder, 0);
    event.features.insert("price".into(), FeatureValue::Tokens(vec!["cheap".into()]));
    let err = encode_events(&encoder, &[event.clone()]).unwrap_err().to_string();
    assert!(err.contains(&format!("event {}", event.id)) && err.contains("\"price\""), "{err}");
    event.features.remove("price");
    assert!(encode_events(&encoder, &[event]).unwrap_err().to_string().contains("missing"));
    let future = br#"{"v":2,"id":1,"ts":0,"label":1.0,"features":{}}"#;
    assert!(Event::from_bytes(future, "log:7").unwrap_err().to_string().contains("version 2"));
    assert!(Event::from_bytes(b"{", "log:7").unwrap_err().to_string().contains("log:7"));
}
