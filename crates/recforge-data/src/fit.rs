//! The first prepare pass: stream the main file once, validate every row, count tokens and
//! accumulate numeric statistics. Only counts live in memory.

use crate::decode::{Decoded, Decoder};
use crate::encoder::{Encoder, FittedFeature};
use crate::error::Result;
use crate::numeric::StatsBuilder;
use crate::reader::{Row, RowReader};
use crate::rows::{Progress, RowSet, Skipped};
use crate::schema::{FeatureKind, Schema};
use crate::vocab::{Vocab, VocabBuilder};

/// What the first pass learnt.
pub(crate) struct Fitted {
    pub encoder: Encoder,
    /// Rows the pass skipped; the second pass skips exactly these.
    pub bad_rows: RowSet,
    pub rows_read: u64,
    pub rows_kept: u64,
    pub skipped: Skipped,
    /// Token count per bag feature over kept rows (exact capacity for the second pass).
    pub bag_values: Vec<u64>,
}

enum Accumulator {
    Tokens(VocabBuilder),
    Hashed(u32),
    Numeric(StatsBuilder),
}

pub(crate) fn fit(
    schema: &Schema,
    decoder: &Decoder,
    reader: &mut dyn RowReader,
    skip_bad_rows: bool,
    progress: &Progress,
) -> Result<Fitted> {
    let mut accumulators: Vec<Accumulator> = schema
        .features
        .iter()
        .map(|f| match (f.kind, f.hash_buckets) {
            (FeatureKind::Numeric, _) => Accumulator::Numeric(StatsBuilder::default()),
            (_, Some(buckets)) => Accumulator::Hashed(buckets),
            (_, None) => Accumulator::Tokens(VocabBuilder::new()),
        })
        .collect();
    let mut bag_values = vec![0u64; schema.features.len()];
    let mut bad_rows = RowSet::default();
    let mut skipped = Skipped::new(skip_bad_rows);
    let mut row = Row::default();
    let mut decoded = Decoded::default();
    let mut rows_read = 0u64;
    while let Some(result) = reader.read_into(&mut row) {
        let index = rows_read;
        rows_read += 1;
        progress.tick(rows_read, reader.bytes_read(), reader.path())?;
        if let Err(e) = result.and_then(|()| decoder.decode(&row, &mut decoded)) {
            skipped.record(e)?;
            bad_rows.insert(index);
            continue;
        }
        for (i, acc) in accumulators.iter_mut().enumerate() {
            match acc {
                Accumulator::Numeric(stats) => {
                    let number = decoded.numbers[i];
                    if number.filled {
                        stats.add_missing();
                    } else {
                        stats.add(number.value);
                    }
                }
                Accumulator::Tokens(vocab) => {
                    let mut n = 0;
                    decoder.for_each_token(i, &row, &decoded, |t| {
                        vocab.add(t);
                        n += 1;
                    });
                    bag_values[i] += n;
                }
                Accumulator::Hashed(_) => {
                    let mut n = 0;
                    decoder.for_each_token(i, &row, &decoded, |_| n += 1);
                    bag_values[i] += n;
                }
            }
        }
    }
    progress.report(rows_read, reader.bytes_read());
    let features = accumulators
        .into_iter()
        .zip(&schema.features)
        .zip(&decoder.slots)
        .map(|((acc, spec), slot)| match acc {
            Accumulator::Numeric(stats) => FittedFeature::Numeric {
                stats: stats.finish(),
            },
            Accumulator::Tokens(vocab) => FittedFeature::Tokens {
                separator: slot.separator.clone(),
                vocab: vocab.finish(spec.min_count),
            },
            Accumulator::Hashed(buckets) => FittedFeature::Tokens {
                separator: slot.separator.clone(),
                vocab: Vocab::hashed(buckets),
            },
        })
        .collect();
    Ok(Fitted {
        encoder: Encoder {
            schema: schema.clone(),
            features,
        },
        bad_rows,
        rows_kept: rows_read - skipped.count,
        rows_read,
        skipped,
        bag_values,
    })
}
