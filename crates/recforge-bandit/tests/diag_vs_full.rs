//! The properties Online Matching relies on: Diag-LinUCB is exact LinUCB when contexts are
//! one-hot, and its partial sums merge by addition in any order.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use recforge_bandit::{ClusterContext, DiagLinUcb, LinUcb, Policy, Scorer, Ucb};

const CLUSTERS: u32 = 4;
const ITEMS: u32 = 5;

#[test]
fn diag_linucb_equals_linucb_on_one_hot_contexts() {
    let mut diag = DiagLinUcb::new(1.5);
    let mut full = LinUcb::new(CLUSTERS as usize, 1.5);
    // A deterministic stream of one-hot events with varied rewards.
    for step in 0..200u32 {
        let ctx = ClusterContext::one_hot(step * 7 % CLUSTERS);
        let item = step * 3 % ITEMS;
        let reward = f64::from((step * 13 % 5 == 0) as u8) + 0.1 * f64::from(step % 3);
        diag.update(&ctx, item, reward);
        full.update(&ctx, item, reward);
    }
    for cluster in 0..CLUSTERS {
        let ctx = ClusterContext::one_hot(cluster);
        for item in 0..ITEMS + 1 {
            let (d, f) = (diag.score(&ctx, item), full.score(&ctx, item));
            assert!((d.mean - f.mean).abs() < 1e-9 && (d.sd - f.sd).abs() < 1e-9, "cluster {cluster} item {item}: {d:?} vs {f:?}");
        }
        let candidates: Vec<u32> = (0..ITEMS).collect();
        let mut rng = SmallRng::seed_from_u64(0);
        let top_d: Vec<u32> = Ucb::new("diag", diag.clone(), 0.8).choose(&ctx, &candidates, 3, &mut rng).into_iter().map(|c| c.item).collect();
        let top_f: Vec<u32> = Ucb::new("full", full.clone(), 0.8).choose(&ctx, &candidates, 3, &mut rng).into_iter().map(|c| c.item).collect();
        assert_eq!(top_d, top_f);
    }
}

fn event() -> impl Strategy<Value = (Vec<(u32, f64)>, u32, f64)> {
    (prop::collection::vec((0..CLUSTERS, 0.0f64..1.0), 1..4), 0..ITEMS, 0.0f64..1.0)
}

proptest! {
    /// Events split over workers and merged in any order give the sequential state.
    #[test]
    fn partial_sums_merge_in_any_order(
        events in prop::collection::vec(event(), 1..60),
        assignment in prop::collection::vec(0usize..3, 60),
        order in Just([0usize, 1, 2]).prop_shuffle(),
    ) {
        let mut sequential = DiagLinUcb::new(1.0);
        let mut workers = vec![DiagLinUcb::new(1.0); 3];
        for (k, (pairs, item, reward)) in events.iter().enumerate() {
            let ctx = ClusterContext::new(pairs.iter().copied());
            sequential.update(&ctx, *item, *reward);
            workers[assignment[k]].update(&ctx, *item, *reward);
        }
        let mut merged = DiagLinUcb::new(1.0);
        for &w in &order {
            merged.merge(&workers[w]);
        }
        for cluster in 0..CLUSTERS {
            for item in 0..ITEMS {
                let (a, b) = (sequential.edge(cluster, item), merged.edge(cluster, item));
                prop_assert!((a.sum_w2 - b.sum_w2).abs() < 1e-9 && (a.sum_wr - b.sum_wr).abs() < 1e-9);
            }
        }
    }
}
