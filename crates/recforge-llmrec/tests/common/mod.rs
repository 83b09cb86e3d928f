//! Synthetic recommendation data for the tests: 4 groups of 6 users over 20 films; every user
//! of group g ends with the group's validation film `Valid g (2001)` then its test film
//! `Test g (2002)`, which appear nowhere else (so leaks are detectable), and the k-core keeps them.
#![allow(dead_code)]

use recforge_data::Sequences;
use recforge_llmrec::{Catalog, RecData, Ratings};

pub const GROUPS: u32 = 4;
pub const PER_GROUP: u32 = 6;
pub const FILMS: u32 = 20;
pub const HISTORY: u32 = 8;

/// Item ids: 1..=FILMS films, then valid g, then test g.
pub fn valid_item(g: u32) -> u32 {
    FILMS + 1 + g
}

pub fn test_item(g: u32) -> u32 {
    FILMS + 1 + GROUPS + g
}

pub fn rec_data() -> RecData {
    let (mut users, mut items, mut ts) = (Vec::new(), Vec::new(), Vec::new());
    let mut triples = Vec::new();
    for u in 0..GROUPS * PER_GROUP {
        let user = u + 1;
        let g = u / PER_GROUP;
        let mut seq: Vec<u32> = (0..HISTORY).map(|j| (u * 3 + j) % FILMS + 1).collect();
        seq.push(valid_item(g));
        seq.push(test_item(g));
        for (t, &item) in seq.iter().enumerate() {
            users.push(user);
            items.push(item);
            ts.push((u as i64) * 1000 + t as i64);
            triples.push((user, item, ((u + item) % 5 + 1) as f32));
        }
    }
    let num_items = (FILMS + 1 + 2 * GROUPS) as usize;
    let sequences = Sequences::build(&users, &items, &ts, num_items, 5).expect("sequences");
    let mut titles = vec![String::new()];
    let mut genres = vec![Vec::new()];
    for i in 1..=FILMS {
        titles.push(format!("Film {i} of the Year ({})", 1980 + i));
        genres.push(vec![if i % 2 == 0 { "Drama".to_string() } else { "Comedy".to_string() }]);
    }
    for g in 0..GROUPS {
        titles.push(format!("Valid {g} (2001)"));
        genres.push(vec!["Thriller".to_string()]);
    }
    for g in 0..GROUPS {
        titles.push(format!("Test {g} (2002)"));
        genres.push(vec!["Horror".to_string()]);
    }
    let user_tokens = sequences.users.iter().map(|u| format!("u{u}")).collect();
    RecData { sequences, catalog: Catalog { titles, genres }, ratings: Ratings::from_triples(triples), user_tokens }
}
