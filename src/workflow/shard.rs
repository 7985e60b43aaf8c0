//! Sharding for CI: the matrix of suites × platforms that `test --list`
//! prints, one cell of it (`--platform`, a SUITE), and `--partition K/N`,
//! which splits test hosts (for `test`) or the inventory's hosts (for
//! `plan`, `converge`, `verify`) across N jobs.
//!
//! A partition is deterministic and depends on the host names only: the
//! names are sorted, and the i-th name (counting from 0) goes to partition
//! `i mod N + 1` (round-robin), so the N partitions differ in size by at
//! most one and together hold every host exactly once.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::config::Project;

/// `--partition K/N`: the K-th of N shards (1 ≤ K ≤ N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// K, from 1.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(text: &str) -> Result<Partition, String> {
        let usage = "give K/N with 1 ≤ K ≤ N, e.g. --partition 1/3 in the first of three CI jobs";
        let Some((k, n)) = text.split_once('/') else {
            return Err(format!("'{text}' is not K/N; {usage}"));
        };
        let (Ok(index), Ok(count)) = (k.trim().parse::<usize>(), n.trim().parse::<usize>()) else {
            return Err(format!("'{text}' is not two whole numbers K/N; {usage}"));
        };
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "partition {index}/{count} does not exist: partitions count from 1 to N; {usage}"
            ));
        }
        Ok(Partition { index, count })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Partition {
    /// The items of this partition, by `name`: sorted names, round-robin.
    /// The items keep their order.
    pub fn pick<T>(&self, items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
        let mut names: Vec<&str> = items.iter().map(&name).collect();
        names.sort_unstable();
        let mine: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| i % self.count + 1 == self.index)
            .map(|(_, n)| n.to_string())
            .collect();
        items
            .into_iter()
            .filter(|item| mine.iter().any(|n| n == name(item)))
            .collect()
    }
}

/// The items of `partition`, or all of them without one.
pub fn partition<T>(
    items: Vec<T>,
    partition: Option<Partition>,
    name: impl Fn(&T) -> &str,
) -> Vec<T> {
    match partition {
        Some(partition) => partition.pick(items, name),
        None => items,
    }
}

/// One cell of the CI matrix: a suite on a platform, which is one test host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// The suite: an entry under `test_hosts.hosts` (its groups select the
    /// recipes and the features); `redgreen test SUITE` runs it.
    pub suite: String,
    /// The platform's name; `--platform` selects it.
    pub platform: String,
    /// The test host, `SUITE-PLATFORM`.
    pub test_host: String,
}

/// The matrix: every suite × platform, in redgreen.yml's order.
pub fn matrix(project: &Project) -> Vec<Cell> {
    project
        .test_hosts()
        .into_iter()
        .map(|t| Cell {
            suite: t.entry_name.value.clone(),
            platform: t.platform.value.name.value.clone(),
            test_host: t.name,
        })
        .collect()
}

/// The platform names of the project.
pub fn platforms(project: &Project) -> Vec<String> {
    let mut names: Vec<String> = matrix(project).into_iter().map(|c| c.platform).collect();
    names.dedup();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse_from_k_of_n_and_refuse_what_does_not_exist() {
        assert_eq!(
            "2/3".parse::<Partition>(),
            Ok(Partition { index: 2, count: 3 })
        );
        for bad in ["0/3", "3/2", "1/0", "a/b", "3", "-1/2", ""] {
            let err = bad.parse::<Partition>().expect_err(bad);
            assert!(err.contains("--partition 1/3"), "{bad}: {err}");
        }
    }

    #[test]
    fn partitions_are_sorted_round_robin_and_cover_every_host_once() {
        let hosts = vec!["web3", "db1", "web1", "web2", "cache1"];
        let pick = |k| Partition { index: k, count: 2 }.pick(hosts.clone(), |h| h);
        // Sorted: cache1 db1 web1 web2 web3 → 1: cache1 web1 web3, 2: db1 web2.
        assert_eq!(pick(1), vec!["web3", "web1", "cache1"]);
        assert_eq!(pick(2), vec!["db1", "web2"]);
        for count in 1..=7 {
            let mut all: Vec<&str> = (1..=count)
                .flat_map(|index| Partition { index, count }.pick(hosts.clone(), |h| h))
                .collect();
            all.sort_unstable();
            let mut expected = hosts.clone();
            expected.sort_unstable();
            assert_eq!(all, expected, "{count} partitions");
        }
    }

    #[test]
    fn a_partition_does_not_depend_on_the_order_hosts_come_in() {
        let one = Partition { index: 1, count: 3 };
        let mut a = one.pick(vec!["c", "a", "d", "b"], |h| h);
        let mut b = one.pick(vec!["b", "d", "a", "c"], |h| h);
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        assert_eq!(a, vec!["a", "d"]);
    }
}
