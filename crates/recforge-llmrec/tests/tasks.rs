//! Task data: byte-exact templates, deterministic generation without held-out leaks, the
//! evaluation sample, and clear errors on malformed JSONL and unknown tasks.

mod common;

use std::collections::HashSet;

use recforge_llmrec::eval_set::{EVAL_NEGATIVES, eval_user_indices};
use recforge_llmrec::tasks::{ranking_prompt, rating_prompt, retrieval_prompt};
use recforge_llmrec::templates::Template;
use recforge_llmrec::{EvalSetConfig, MakeDataConfig, Task, TemplateSet, make_examples, read_eval_set, read_task_jsonl, sample_eval_set, write_eval_set};

#[test]
fn templates_render_byte_exact() {
    let t = TemplateSet::builtin().unwrap();
    assert_eq!(
        retrieval_prompt(&t, 0, &["Heat (1995)", "Good, the Bad and the Ugly, The (1966)"]).unwrap(),
        "A user watched these movies, in this order: Heat (1995); Good, the Bad and the Ugly, The (1966). \
         Which movie will the user watch next? Answer with the movie title only."
    );
    assert_eq!(
        ranking_prompt(&t, 1, &["A (1990)"], &["B (1991)", "C (1992)"]).unwrap(),
        "Viewing history, oldest first: A (1990). Pick the movie this person watches next from the following list: \
         B (1991); C (1992). Reply with its title."
    );
    assert_eq!(
        rating_prompt(&t, 2, &["A (1990)", "B (1991)"], &[4.0, 2.0], "C (1992)").unwrap(),
        "Ratings so far: A (1990): 4; B (1991): 2. On a scale of 1 to 5, what rating does this viewer give \"C (1992)\"?"
    );
    let mlm = t.get(Task::Mlm).render(0, &[("masked_title", "Toy [MASK] (1995)"), ("genres", "Animation")]).unwrap();
    assert_eq!(mlm, "Complete the movie title by filling in [MASK]: Toy [MASK] (1995) (Animation). Answer with the missing word only.");
    for task in Task::ALL {
        assert_eq!(t.get(task).len(), 3, "{task} has three phrasings");
    }
}

#[test]
fn template_parsing_and_placeholder_errors() {
    let t = Template::parse("# comment\nfirst {x}\n---\nsecond {x} and {x}\n", "inline").unwrap();
    assert_eq!(t.phrasings, vec!["first {x}".to_string(), "second {x} and {x}".to_string()]);
    // Values are never re-scanned for placeholders.
    assert_eq!(t.render(1, &[("x", "{x}")]).unwrap(), "second {x} and {x}");
    let err = t.render(0, &[("y", "1")]).unwrap_err().to_string();
    assert!(err.contains("no value for placeholder `{x}`"), "{err}");
    assert!(Template::parse("# only comments\n", "empty.txt").unwrap_err().to_string().contains("empty.txt"));
    let err = Task::parse("summarise").unwrap_err().to_string();
    assert!(err.contains("unknown task \"summarise\"") && err.contains("retrieval, ranking, rating, mim, mlm, bpr"), "{err}");
}

#[test]
fn generation_is_deterministic_covers_every_task_and_never_leaks_held_out_items() {
    let data = common::rec_data();
    let templates = TemplateSet::builtin().unwrap();
    let config = MakeDataConfig { per_user: 2, seed: 5, ..MakeDataConfig::default() };
    let a = make_examples(&data, &templates, &config).unwrap();
    let b = make_examples(&data, &templates, &config).unwrap();
    assert_eq!(a, b);
    let c = make_examples(&data, &templates, &MakeDataConfig { seed: 6, ..config.clone() }).unwrap();
    assert_ne!(a, c);
    let tasks: HashSet<&str> = a.iter().map(|e| e.task.as_str()).collect();
    assert_eq!(tasks.len(), 6, "{tasks:?}");
    let held_out: Vec<String> =
        (0..common::GROUPS).flat_map(|g| [common::valid_item(g), common::test_item(g)]).map(|i| data.catalog.title(i).to_string()).collect();
    for e in &a {
        for title in &held_out {
            assert!(!e.prompt.contains(title.as_str()) && !e.target.contains(title.as_str()), "{title} leaked into {e:?}");
        }
        for token in &data.user_tokens {
            assert!(!e.prompt.split(|c: char| !c.is_alphanumeric()).any(|w| w == token), "user id {token} in {e:?}");
        }
        match e.task.as_str() {
            "rating" => assert!(matches!(e.target.as_str(), "1" | "2" | "3" | "4" | "5"), "{e:?}"),
            "ranking" => assert!(e.prompt.contains(&e.target)),
            "mim" => assert!(e.prompt.contains("[MASK]")),
            "mlm" => assert!(e.prompt.contains("[MASK]") && !e.target.contains(' ')),
            "bpr" => assert!(e.prompt.contains(&format!("\"{}\"", e.target))),
            _ => {}
        }
    }
}

#[test]
fn eval_sample_is_fixed_well_formed_and_round_trips() {
    let data = common::rec_data();
    let config = EvalSetConfig { users: 10, seed: 3, history: 30, negatives: EVAL_NEGATIVES };
    let users = sample_eval_set(&data, &config).unwrap();
    assert_eq!(users, sample_eval_set(&data, &config).unwrap());
    assert_eq!(users.len(), 10);
    assert_eq!(eval_user_indices(&users).len(), 10);
    for u in &users {
        let full = &data.sequences.histories[u.user_index as usize];
        assert_eq!(u.target, *full.last().unwrap());
        assert_eq!(&full[full.len() - 1 - u.history.len()..full.len() - 1], u.history.as_slice());
        assert_eq!(u.target_title, data.catalog.title(u.target));
        assert_eq!(u.history_titles.len(), u.history.len());
        let seen: HashSet<u32> = full.iter().copied().collect();
        let distinct: HashSet<u32> = u.negatives.iter().copied().collect();
        assert_eq!(distinct.len(), u.negatives.len());
        assert!(u.negatives.iter().all(|n| !seen.contains(n) && data.sequences.train_counts[*n as usize] > 0));
        assert_eq!(u.rating, data.ratings.get(data.sequences.users[u.user_index as usize], u.target).unwrap());
        assert_eq!(u.candidates().len(), 1 + u.negatives.len());
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eval_users.jsonl");
    write_eval_set(&path, &users).unwrap();
    assert_eq!(read_eval_set(&path).unwrap(), users);
}

#[test]
fn malformed_jsonl_and_unknown_tasks_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.jsonl");
    let good = r#"{"task":"retrieval","prompt":"p","target":"t"}"#;
    std::fs::write(&path, format!("{good}\n\n{}\n", r#"{"task":"rating","prompt":"p"}"#)).unwrap();
    let err = read_task_jsonl(&path).unwrap_err().to_string();
    assert!(err.contains("train.jsonl:3:") && err.contains("missing field `target`"), "{err}");
    std::fs::write(&path, format!("{good}\n{}\n", r#"{"task":"summarise","prompt":"p","target":"t"}"#)).unwrap();
    let err = read_task_jsonl(&path).unwrap_err().to_string();
    assert!(err.contains("train.jsonl:2:") && err.contains("field `task`") && err.contains("unknown task \"summarise\""), "{err}");
    std::fs::write(&path, format!("{good}\n{}\n", r#"{"task":"bpr","prompt":"p","target":""}"#)).unwrap();
    assert!(read_task_jsonl(&path).unwrap_err().to_string().contains("train.jsonl:2: field `target` is empty"));
    std::fs::write(&path, "{not json\n").unwrap();
    assert!(read_task_jsonl(&path).unwrap_err().to_string().contains("train.jsonl:1:"));
    std::fs::write(&path, format!("{good}\n")).unwrap();
    assert_eq!(read_task_jsonl(&path).unwrap().len(), 1);
}
