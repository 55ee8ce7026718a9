//! Loading a run: criterion's per-benchmark output and the side files the decision benches
//! write (`<criterion>/racekit/<bench>.json`), joined into cells of contenders.

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// criterion's `benchmark.json`.
#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

/// criterion's `sample.json`: per sample, the iteration count and the total time in ns.
#[derive(Deserialize)]
struct SampleJson {
    iters: Vec<f64>,
    times: Vec<f64>,
}

/// One side-file entry: what the bench knew about one benchmark.
#[derive(Clone, Debug, Deserialize)]
pub struct EntryMeta {
    pub group: String,
    pub contender: String,
    pub value: String,
    pub cell: String,
    pub params: Value,
    pub round: usize,
    #[serde(default = "one")]
    pub ops_per_iteration: u64,
    pub baseline: String,
    pub recommended: Option<String>,
    pub cpu_share: Option<f64>,
    pub runqueue_share: Option<f64>,
    pub others_share: Option<f64>,
    pub cpu_speed: Option<f64>,
    #[serde(default)]
    pub allocations_per_op: Option<f64>,
    #[serde(default)]
    pub bytes_per_op: Option<f64>,
}

fn one() -> u64 {
    1
}

/// One bench binary's run, from its side file.
#[derive(Clone, Debug, Deserialize)]
pub struct RunMeta {
    pub bench: String,
    pub mode: String,
    pub rounds: usize,
    pub args: Vec<String>,
    pub cores: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub spin_ns_per_unit: f64,
    pub loadavg_before: Vec<f64>,
    pub loadavg_after: Vec<f64>,
    pub others_share: Option<f64>,
    pub started_unix: u64,
    pub wall_seconds: f64,
    pub entries: Vec<EntryMeta>,
}

/// Machine facts of one contender's benchmark in one round.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts {
    pub runqueue_share: Option<f64>,
    pub others_share: Option<f64>,
    pub cpu_speed: Option<f64>,
}

/// One contender's benchmark in one round: criterion's samples, in ns per operation.
#[derive(Clone, Debug, Default)]
pub struct Round {
    pub samples: Vec<f64>,
    pub facts: Facts,
    /// Allocations and bytes per operation, where the bench counted them.
    pub allocations: Option<(f64, f64)>,
}

/// One contender in one cell, by round number (contenders are paired by round).
#[derive(Clone, Debug, Default)]
pub struct Contender {
    pub rounds: BTreeMap<usize, Round>,
}

/// All contenders of one cell of one group.
#[derive(Clone, Debug)]
pub struct Cell {
    pub group: String,
    pub label: String,
    /// The bench's parameters (thread count, section length ...); `Null` for benches without a side file.
    pub params: Value,
    pub baseline: Option<String>,
    pub recommended: Option<String>,
    pub contenders: BTreeMap<String, Contender>,
}

impl Cell {
    /// A numeric parameter.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.params.get(key).and_then(Value::as_f64)
    }

    /// Whether the cell ran more threads (or tasks) than cores.
    pub fn oversubscribed(&self) -> bool {
        self.params.get("oversubscribed").and_then(Value::as_bool).unwrap_or(false)
    }
}

/// A whole run: the cells (in the order the benches ran them) and the side files.
pub struct Dataset {
    pub cells: Vec<Cell>,
    pub runs: Vec<RunMeta>,
}

impl Dataset {
    /// The cells of `group`, in run order.
    pub fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Cell> + 'a {
        self.cells.iter().filter(move |cell| cell.group == group)
    }
}

/// Every `new/benchmark.json` below `dir`.
fn benchmark_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            let candidate = path.join("new").join("benchmark.json");
            if path.file_name().is_some_and(|n| n == "new") {
                continue;
            }
            if candidate.is_file() {
                found.push(candidate);
            }
            benchmark_files(&path, found)?;
        }
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Loads everything under `criterion_dir` (criterion's output folder).
pub fn load(criterion_dir: &Path) -> Result<Dataset> {
    anyhow::ensure!(
        criterion_dir.is_dir(),
        "no criterion output at {}: run the benches first (`cargo bench-report --run`, or `--quick` for a smoke run), or pass --criterion-dir",
        criterion_dir.display()
    );
    let mut runs: Vec<RunMeta> = Vec::new();
    let side_dir = criterion_dir.join("racekit");
    if side_dir.is_dir() {
        for entry in std::fs::read_dir(&side_dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                runs.push(read_json(&path)?);
            }
        }
    }
    runs.sort_by_key(|run| run.started_unix);

    // (group, contender, value) -> samples in ns per iteration.
    let mut samples: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    let mut files = Vec::new();
    benchmark_files(criterion_dir, &mut files)?;
    for file in files {
        let id: BenchmarkJson = read_json(&file)?;
        let sample: SampleJson = read_json(&file.with_file_name("sample.json"))?;
        let per_op: Vec<f64> =
            sample.iters.iter().zip(&sample.times).filter(|(i, _)| **i > 0.0).map(|(i, t)| t / i).collect();
        let key = (id.group_id, id.function_id.unwrap_or_default(), id.value_str.unwrap_or_default());
        samples.insert(key, per_op);
    }

    let mut cells: Vec<Cell> = Vec::new();
    let mut position: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut cell_index = |cells: &mut Vec<Cell>, group: &str, label: &str, make: &dyn Fn() -> Cell| -> usize {
        *position.entry((group.to_string(), label.to_string())).or_insert_with(|| {
            cells.push(make());
            cells.len() - 1
        })
    };
    // Side-file entries first, in run order: they carry the cells' structure.
    for run in &runs {
        for entry in &run.entries {
            let key = (entry.group.clone(), entry.contender.clone(), entry.value.clone());
            let Some(mut per_op) = samples.remove(&key) else { continue };
            per_op.iter_mut().for_each(|t| *t /= entry.ops_per_iteration.max(1) as f64);
            let index = cell_index(&mut cells, &entry.group, &entry.cell, &|| Cell {
                group: entry.group.clone(),
                label: entry.cell.clone(),
                params: entry.params.clone(),
                baseline: Some(entry.baseline.clone()),
                recommended: entry.recommended.clone(),
                contenders: BTreeMap::new(),
            });
            let facts = Facts {
                runqueue_share: entry.runqueue_share,
                others_share: entry.others_share,
                cpu_speed: entry.cpu_speed,
            };
            let contender = cells[index].contenders.entry(entry.contender.clone()).or_default();
            let allocations = entry.allocations_per_op.zip(entry.bytes_per_op);
            contender.rounds.insert(entry.round, Round { samples: per_op, facts, allocations });
        }
    }
    // Everything else (benches without a side file): one round, the cell is criterion's value.
    for ((group, contender, value), per_op) in samples {
        let index = cell_index(&mut cells, &group, &value, &|| Cell {
            group: group.clone(),
            label: value.clone(),
            params: Value::Null,
            baseline: None,
            recommended: None,
            contenders: BTreeMap::new(),
        });
        let round = Round { samples: per_op, ..Round::default() };
        cells[index].contenders.insert(contender, Contender { rounds: BTreeMap::from([(0, round)]) });
    }
    for cell in &mut cells {
        for contender in cell.contenders.values_mut() {
            contender.rounds.retain(|_, round| !round.samples.is_empty());
        }
        cell.contenders.retain(|_, contender| !contender.rounds.is_empty());
    }
    cells.retain(|cell| !cell.contenders.is_empty());
    Ok(Dataset { cells, runs })
}
