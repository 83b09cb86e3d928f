"""RecBole 1.2.1's SASRec or BPR on the split recforge exports, full-corpus evaluation.

The data comes from `recforge data export-split SCHEMA --format recbole --out DIR`: a `.inter`
file whose timestamps are each user's history positions, so RecBole's temporal leave-one-out
(`LS: valid_and_test`, `order: TO`) holds out the same validation and test items as recforge.
Ranking is over the whole item corpus with the user's earlier items masked (RecBole's
`mode: full`), as recforge's SASRec evaluation does. Sizes default to recforge's SASRec
(`SasRecTrainConfig`: d 50, 2 blocks, 1 head, dropout 0.2, max length 50, batch 128, Adam 1e-3,
cross-entropy over the full catalogue, early stopping on validation NDCG@10).

Prints one JSON object: model, dataset, test Recall/NDCG/Hit@{10,50}, epochs run, and the
median training seconds per epoch (evaluation excluded).

Usage: bench/recbole/.venv/bin/python bench/recbole/run_recbole.py --data-path runs/recbole \
           --dataset ml1m --model SASRec [--epochs 50] [--threads 2]
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # RecBole's checkpoints predate weights_only


def config_for(args):
    common = {
        "data_path": args.data_path,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Recall", "NDCG", "Hit"],
        "topk": [10, 50],
        "valid_metric": "NDCG@10",
        "epochs": args.epochs,
        "stopping_step": args.patience,
        "eval_batch_size": 4096,
        "use_gpu": False,
        "device": "cpu",
        "seed": args.seed,
        "reproducibility": True,
        "show_progress": False,
        "worker": 0,
        "checkpoint_dir": os.path.join(args.out, "saved"),
        "log_wandb": False,
    }
    if args.model == "SASRec":
        common.update({
            "hidden_size": 50,
            "inner_size": 50,
            "n_layers": 2,
            "n_heads": 1,
            "hidden_dropout_prob": 0.2,
            "attn_dropout_prob": 0.2,
            "MAX_ITEM_LIST_LENGTH": 50,
            "loss_type": "CE",
            "train_neg_sample_args": None,
            "train_batch_size": 128,
            "learning_rate": 1e-3,
        })
    elif args.model == "BPR":
        common.update({
            "embedding_size": 64,
            "train_batch_size": 2048,
            "learning_rate": 1e-3,
            "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
        })
    else:
        raise SystemExit(f"run_recbole.py: --model SASRec or BPR, got {args.model!r}")
    return common


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-path", required=True, help="the --out folder of recforge data export-split --format recbole")
    parser.add_argument("--dataset", required=True, help="the schema stem (the sub-folder and .inter name)")
    parser.add_argument("--model", default="SASRec")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="runs/recbole-out")
    args = parser.parse_args()

    import torch
    import sys

    sys.argv = sys.argv[:1]  # RecBole's Config parses the command line as its own
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    torch.set_num_threads(args.threads)
    # RecBole writes log/ and log_tensorboard/ into the working directory: keep them in --out.
    args.data_path = os.path.abspath(args.data_path)
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    os.chdir(args.out)
    config = Config(model=args.model, dataset=args.dataset, config_dict=config_for(args))
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)  # RecBole's own per-epoch log, under --out/log/
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    epoch_seconds = []
    train_epoch = trainer._train_epoch

    def timed_epoch(*a, **k):
        started = time.perf_counter()
        result = train_epoch(*a, **k)
        epoch_seconds.append(time.perf_counter() - started)
        return result

    trainer._train_epoch = timed_epoch
    trainer.fit(train, valid, saved=True, show_progress=False)
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    print(json.dumps({
        "implementation": "recbole 1.2.1",
        "model": args.model,
        "dataset": args.dataset,
        "users": dataset.user_num - 1,
        "items": dataset.item_num - 1,
        "interactions": len(dataset.inter_feat),
        "epochs": len(epoch_seconds),
        "train_seconds_per_epoch": statistics.median(epoch_seconds) if epoch_seconds else None,
        "threads": args.threads,
        "test": {k: float(v) for k, v in result.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
