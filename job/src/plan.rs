//! Partitions: one job on n machines. `--partition i/n` is nextest's hash partitioning
//! (`hash:i/n`): a test's partition depends only on its binary and name, so every machine
//! computes the same split from the same archive, whatever the others run.

use anyhow::{bail, Result};

/// `i/n`, 1-based as people count partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

impl Partition {
    /// Parses `i/n` (such as `2/4`).
    pub fn parse(text: &str) -> Result<Partition> {
        let Some((i, n)) = text.split_once('/') else {
            bail!("--partition {text:?}: expected i/n, such as 2/4 (partition 2 of 4)");
        };
        let (Ok(index), Ok(count)) = (i.trim().parse::<u32>(), n.trim().parse::<u32>()) else {
            bail!("--partition {text:?}: expected i/n with whole numbers, such as 2/4");
        };
        if count == 0 || index == 0 || index > count {
            bail!("--partition {text:?}: partitions are numbered 1 to n, such as 1/4 up to 4/4");
        }
        Ok(Partition { index, count })
    }

    /// `2/4`.
    pub fn label(self) -> String {
        format!("{}/{}", self.index, self.count)
    }

    /// nextest's `--partition` value.
    pub fn nextest(self) -> String {
        format!("hash:{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse_one_based_and_map_to_nextest_hashing() {
        let partition = Partition::parse("2/4").unwrap();
        assert_eq!(partition, Partition { index: 2, count: 4 });
        assert_eq!(partition.nextest(), "hash:2/4");
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(Partition::parse(bad).is_err(), "{bad}");
        }
    }
}
