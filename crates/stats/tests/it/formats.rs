//! The benchmark-output parsers on real output (the files under
//! `tests/fixtures/criterion/`, written by its `gen.sh`), on hand-written
//! lines, and on broken input: every error names the file and the line and
//! column or JSON path, and no input makes a parser panic.

use std::path::Path;

use proptest::prelude::*;
use stats::criterion::{ChangeVerdict, Config, compare};
use stats::formats::{
    CargoCriterionVerdict, Location, ParseError, Throughput, bencher_output, cargo_criterion_messages,
    criterion_benchmark_json, criterion_change_json, criterion_estimates_json, criterion_raw_csv,
    criterion_sample_json,
};

use crate::close;
use crate::criterion::{fixture_dir, read};

fn fixture(rel: &str) -> String {
    read(&fixture_dir().join(rel))
}

/// The benchmark directories of the recorded scenarios (`<scenario>/<id>`).
fn bench_dirs() -> Vec<String> {
    let mut out = Vec::new();
    for scenario in ["unchanged", "slower", "faster", "noise"] {
        for id in ["spin", "scaled/spin/10k"] {
            let rel = format!("{scenario}/{id}");
            assert!(fixture_dir().join(&rel).is_dir(), "{rel}");
            out.push(rel);
        }
    }
    out
}

#[test]
fn criterion_sample_json_gives_time_over_iterations() {
    for dir in bench_dirs() {
        for part in ["new", "base"] {
            let name = format!("{dir}/{part}/sample.json");
            let per_iter = criterion_sample_json(&name, &fixture(&name)).unwrap();
            assert_eq!(per_iter.len(), 100, "{name}");
            // criterion's own mean of the same numbers.
            let estimates = criterion_estimates_json(&name, &fixture(&format!("{dir}/{part}/estimates.json"))).unwrap();
            let mean = per_iter.iter().sum::<f64>() / per_iter.len() as f64;
            assert!(close(mean, estimates.mean.point_estimate, 1e-12), "{name}: {mean} vs {:?}", estimates.mean);
        }
    }
}

#[test]
fn criterion_raw_csv_matches_sample_json() {
    for dir in bench_dirs() {
        let csv = criterion_raw_csv("raw.csv", &fixture(&format!("{dir}/new/raw.csv"))).unwrap();
        let json = criterion_sample_json("sample.json", &fixture(&format!("{dir}/new/sample.json"))).unwrap();
        let id = dir.split_once('/').unwrap().1;
        assert_eq!(csv.id, id);
        assert_eq!(csv.per_iter_ns.len(), json.len(), "{dir}");
        for (a, b) in csv.per_iter_ns.iter().zip(&json) {
            assert!(close(*a, *b, 1e-12), "{dir}: {a} vs {b}");
        }
    }
}

#[test]
fn criterion_raw_csv_quoting_units_and_ids() {
    let header = "group,function,value,throughput_num,throughput_type,sample_measured_value,unit,iteration_count\n";
    let text = format!(
        "{header}\"parse, \"\"quoted\"\"\",small,,,,10.0,us,2\r\n\"parse, \"\"quoted\"\"\",small,,,,3,ms,3\n\n"
    );
    let bench = criterion_raw_csv("raw.csv", &text).unwrap();
    assert_eq!(bench.id, "parse, \"quoted\"/small");
    assert_eq!(bench.per_iter_ns, vec![5000.0, 1e6]);
    let ids = [("g,,,", "g"), ("g,f,,", "g/f"), ("g,,v,", "g/v"), ("g,f,v,", "g/f/v")];
    for (fields, id) in ids {
        let bench = criterion_raw_csv("raw.csv", &format!("{header}{fields},,1,s,1\n")).unwrap();
        assert_eq!((bench.id.as_str(), bench.per_iter_ns.as_slice()), (id, &[1e9][..]));
    }
}

#[test]
fn criterion_benchmark_json_reads_the_id() {
    let plain = criterion_benchmark_json("b.json", &fixture("slower/spin/new/benchmark.json")).unwrap();
    assert_eq!((plain.group_id.as_str(), plain.function_id, plain.value_str), ("spin", None, None));
    assert_eq!((plain.full_id.as_str(), plain.title.as_str(), plain.throughput), ("spin", "spin", None));
    let grouped = criterion_benchmark_json("b.json", &fixture("slower/scaled/spin/10k/new/benchmark.json")).unwrap();
    assert_eq!(grouped.group_id, "scaled");
    assert_eq!((grouped.function_id.as_deref(), grouped.value_str.as_deref()), (Some("spin"), Some("10k")));
    assert_eq!((grouped.full_id.as_str(), grouped.directory_name.as_str()), ("scaled/spin/10k", "scaled/spin/10k"));
    // The spin count of the "slower" run (gen.sh's SPIN_N).
    assert_eq!(grouped.throughput, Some(Throughput::Elements(12000)));
    let later = r#"{"group_id":"g","function_id":"f","value_str":null,"full_id":"g/f","directory_name":"g/f","title":"g/f",
        "throughput":{"ElementsAndBytes":{"elements":3,"bytes":24}}}"#;
    let later = criterion_benchmark_json("b.json", later).unwrap();
    assert_eq!(later.throughput, Some(Throughput::ElementsAndBytes { elements: 3, bytes: 24 }));
}

#[test]
fn criterion_estimates_and_change() {
    let estimates = criterion_estimates_json("e.json", &fixture("faster/spin/new/estimates.json")).unwrap();
    let slope = estimates.slope.expect("linear sampling has a slope");
    assert_eq!(estimates.typical(), &slope);
    for e in [estimates.mean, estimates.median, estimates.std_dev, estimates.median_abs_dev, slope] {
        assert_eq!(e.confidence_level, 0.95);
        assert!(e.lower_bound <= e.point_estimate && e.point_estimate <= e.upper_bound, "{e:?}");
        assert!(e.standard_error > 0.0, "{e:?}");
    }
    for dir in bench_dirs() {
        let change = criterion_change_json("c.json", &fixture(&format!("{dir}/change/estimates.json"))).unwrap();
        let new = criterion_estimates_json("n.json", &fixture(&format!("{dir}/new/estimates.json"))).unwrap();
        let base = criterion_estimates_json("b.json", &fixture(&format!("{dir}/base/estimates.json"))).unwrap();
        // The relative change of the mean is new mean / base mean − 1.
        let expected = new.mean.point_estimate / base.mean.point_estimate - 1.0;
        assert!(close(change.mean.point_estimate, expected, 1e-12), "{dir}: {change:?}");
        for e in [change.mean, change.median] {
            assert!(e.lower_bound <= e.point_estimate && e.point_estimate <= e.upper_bound, "{dir}: {e:?}");
        }
    }
    // Flat sampling writes `"slope": null`.
    let flat = fixture("faster/spin/new/estimates.json").replacen("\"slope\":{", "\"unused\":{", 1);
    let flat = flat.replacen('{', "{\"slope\":null,", 1);
    let flat = criterion_estimates_json("e.json", &flat).unwrap();
    assert_eq!((flat.slope, flat.typical()), (None, &flat.mean));
}

#[test]
fn criterion_bencher_output() {
    let benches = bencher_output("bencher.txt", &fixture("bencher.txt")).unwrap();
    let names: Vec<&str> = benches.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["spin", "scaled/spin/10k"]);
    for b in &benches {
        // criterion writes integers: the median and the standard deviation.
        assert!(b.ns_per_iter > 1000.0 && b.ns_per_iter.fract() == 0.0 && b.deviation_ns >= 0.0, "{b:?}");
        assert_eq!(b.mb_per_s, None);
    }
}

#[test]
fn libtest_bench_output() {
    let benches = bencher_output("libtest.txt", &fixture("libtest.txt")).unwrap();
    let names: Vec<&str> = benches.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["spin_large", "spin_small"], "ignored benches and tests are skipped");
    assert!(benches[0].ns_per_iter > 100.0 * benches[1].ns_per_iter, "{benches:?}");

    let text = "\nrunning 6 tests\ntest a ... ok\ntest b ... ignored\ntest c ... FAILED\n\
        test parse_small ... bench:       1,234.56 ns/iter (+/- 7.89)\n\
        test decode      ... bench:         812 ns/iter (+/- 21) = 1260 MB/s\r\n\
        test big ... bench: 1,234,567 ns/iter (+/- 1,000)\n\
        test micro ... bench: 1.5 \u{b5}s/iter (+/- 0.25)\n\n\
        test result: ok. 3 passed; 1 failed; 1 ignored; 4 measured; 0 filtered out; finished in 1.00s\n";
    let benches = bencher_output("out.txt", text).unwrap();
    let got: Vec<(&str, f64, f64, Option<f64>)> =
        benches.iter().map(|b| (b.name.as_str(), b.ns_per_iter, b.deviation_ns, b.mb_per_s)).collect();
    assert_eq!(
        got,
        [
            ("parse_small", 1234.56, 7.89, None),
            ("decode", 812.0, 21.0, Some(1260.0)),
            ("big", 1_234_567.0, 1000.0, None),
            ("micro", 1500.0, 250.0, None),
        ]
    );
}

fn cargo_criterion_fixture(name: &str) -> Option<String> {
    let path = fixture_dir().join("cargo-criterion").join(name);
    Path::exists(&path).then(|| read(&path))
}

#[test]
fn cargo_criterion_messages_from_a_real_run() {
    let (Some(first), Some(second)) = (cargo_criterion_fixture("first.jsonl"), cargo_criterion_fixture("second.jsonl"))
    else {
        panic!("gen.sh records cargo-criterion's messages when `cargo criterion` is installed; they are committed");
    };
    let first = cargo_criterion_messages("first.jsonl", &first).unwrap();
    let second = cargo_criterion_messages("second.jsonl", &second).unwrap();
    for (run, benches) in [("first", &first), ("second", &second)] {
        let ids: Vec<&str> = benches.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["spin", "scaled/spin/10k"], "{run}");
        for b in benches.iter() {
            assert_eq!(b.per_iter_ns.len(), 100);
            let mean = b.per_iter_ns.iter().sum::<f64>() / 100.0;
            assert!(close(mean, b.mean_ns.estimate, 1e-12), "{run} {}: {mean} vs {:?}", b.id, b.mean_ns);
            assert!(
                b.typical_ns.lower_bound <= b.typical_ns.estimate && b.typical_ns.estimate <= b.typical_ns.upper_bound
            );
        }
    }
    assert!(first.iter().all(|b| b.change.is_none()), "the first run has nothing to compare with");
    // The second run is compared with the first, except where the declared
    // throughput changed (scaled/spin/10k: cargo-criterion then starts a new
    // history). Our comparison of the same samples gives cargo-criterion's
    // estimate and verdict (it folds "within noise" into "no change").
    assert!(second[0].change.is_some() && second[1].change.is_none(), "{second:?}");
    for (base, new) in first.iter().zip(&second) {
        let Some(change) = new.change else { continue };
        let ours = compare(&base.per_iter_ns, &new.per_iter_ns, &Config::default()).unwrap();
        assert!(close(ours.mean.estimate, change.mean.estimate, 1e-12), "{}: {ours:?} vs {change:?}", new.id);
        assert!(close(ours.median.estimate, change.median.estimate, 1e-12), "{}: {ours:?} vs {change:?}", new.id);
        let expected = match ours.verdict {
            ChangeVerdict::Regressed => CargoCriterionVerdict::Regressed,
            ChangeVerdict::Improved => CargoCriterionVerdict::Improved,
            ChangeVerdict::WithinNoise | ChangeVerdict::NoChange => CargoCriterionVerdict::NoChange,
        };
        assert_eq!(change.verdict, expected, "{}: {ours:?} vs {change:?}", new.id);
    }
}

#[test]
fn cargo_criterion_messages_documented_shape() {
    let text = concat!(
        r#"{"reason":"benchmark-complete","id":"g/f","report_directory":"target/criterion/reports/g/f","#,
        r#""iteration_count":[2,4],"measured_values":[3.0,8.0],"unit":"us","throughput":[],"#,
        r#""typical":{"estimate":1.9,"lower_bound":1.5,"upper_bound":2.5,"unit":"us"},"#,
        r#""mean":{"estimate":1.75,"lower_bound":1.5,"upper_bound":2.0,"unit":"us"},"#,
        r#""median":{"estimate":1.75,"lower_bound":1.5,"upper_bound":2.0,"unit":"ns"},"#,
        r#""median_abs_dev":{"estimate":0.1,"lower_bound":0.0,"upper_bound":0.2,"unit":"us"},"slope":null,"#,
        r#""change":{"mean":{"estimate":0.25,"lower_bound":0.2,"upper_bound":0.3,"unit":"%"},"#,
        r#""median":{"estimate":0.2,"lower_bound":0.1,"upper_bound":0.3,"unit":"%"},"change":"Regressed"}}"#,
        "\n\n",
        r#"{"reason":"group-complete","group_name":"g","benchmarks":["g/f"],"report_directory":"x"}"#,
        "\n"
    );
    let benches = cargo_criterion_messages("cc.jsonl", text).unwrap();
    assert_eq!(benches.len(), 1);
    let b = &benches[0];
    assert_eq!((b.id.as_str(), b.per_iter_ns.as_slice()), ("g/f", &[1500.0, 2000.0][..]));
    assert_eq!((b.mean_ns.estimate, b.median_ns.estimate, b.typical_ns.upper_bound), (1750.0, 1.75, 2500.0));
    let change = b.change.unwrap();
    assert_eq!(
        (change.verdict, change.mean.estimate, change.median.lower_bound),
        (CargoCriterionVerdict::Regressed, 0.25, 0.1)
    );
}

/// Parsers as one type, for tables of inputs.
type Parser = fn(&str, &str) -> Result<(), ParseError>;

const PARSERS: [(&str, Parser); 7] = [
    ("sample.json", |f, t| criterion_sample_json(f, t).map(drop)),
    ("raw.csv", |f, t| criterion_raw_csv(f, t).map(drop)),
    ("benchmark.json", |f, t| criterion_benchmark_json(f, t).map(drop)),
    ("estimates.json", |f, t| criterion_estimates_json(f, t).map(drop)),
    ("change.json", |f, t| criterion_change_json(f, t).map(drop)),
    ("cargo-criterion.jsonl", |f, t| cargo_criterion_messages(f, t).map(drop)),
    ("bencher.txt", |f, t| bencher_output(f, t).map(drop)),
];

fn parser(file: &str) -> Parser {
    PARSERS.iter().find(|(name, _)| *name == file).unwrap().1
}

const RAW_HEADER: &str =
    "group,function,value,throughput_num,throughput_type,sample_measured_value,unit,iteration_count\n";

#[test]
fn errors_name_the_file_and_the_place() {
    let sample = |iters: &str, times: &str| format!(r#"{{"sampling_mode":"Linear","iters":{iters},"times":{times}}}"#);
    let raw = |rows: &str| format!("{RAW_HEADER}{rows}");
    let cc = |body: &str| format!(r#"{{"reason":"benchmark-complete",{body}}}"#);
    let cases: Vec<(&str, String, &str)> = vec![
        // sample.json: truncated, bad numbers, missing fields, wrong types.
        ("sample.json", sample("[1.0,2.0]", "[10.0,").trim_end_matches('}').to_owned(), "sample.json:1:58: invalid JSON: EOF while parsing a value"),
        ("sample.json", "{\n  \"iters\": [1.0,\n  2.x".to_owned(), "sample.json:3:5: invalid JSON: invalid number"),
        ("sample.json", sample("[1.0,2.0]", "[10.0,1e999]"), "sample.json:1:63: invalid JSON: number out of range"),
        ("sample.json", r#"{"sampling_mode":"Linear","iters":[1.0]}"#.to_owned(), "sample.json: at .: missing field `times`"),
        ("sample.json", sample("[1.0,\"2\"]", "[1,2]"), "sample.json: at .iters[1]: expected a number, found a string"),
        ("sample.json", sample("[1.0,2.0]", "[1,null]"), "sample.json: at .times[1]: expected a number, found null"),
        ("sample.json", sample("{}", "[1]"), "sample.json: at .iters: expected an array of numbers, found an object"),
        ("sample.json", sample("[1.0,0]", "[1,2]"), "sample.json: at .iters[1]: 0 is out of range: must be a positive number"),
        ("sample.json", sample("[1.0]", "[-1]"), "sample.json: at .times[0]: -1 is out of range: must be a finite number ≥ 0"),
        ("sample.json", sample("[1.0,2.0]", "[1]"), "sample.json: at .: `iters` has 2 values but `times` has 1"),
        ("sample.json", sample("[]", "[]"), "sample.json: at .times: no samples"),
        ("sample.json", r#"{"sampling_mode":"Auto","iters":[1],"times":[1]}"#.to_owned(), "sample.json: at .sampling_mode: unknown sampling mode `Auto` (expected Linear or Flat)"),
        ("sample.json", "[]".to_owned(), "sample.json: at .: expected an object, found an array"),
        ("sample.json", String::new(), "sample.json:1:1: invalid JSON: EOF while parsing a value"),
        // raw.csv
        ("raw.csv", String::new(), "raw.csv:1:1: no CSV header"),
        ("raw.csv", RAW_HEADER.to_owned(), "raw.csv:2:1: no samples"),
        ("raw.csv", RAW_HEADER.replace(",value,", ",valu,"), "raw.csv:1:16: CSV header: expected column `value`, found `valu`"),
        ("raw.csv", raw("spin,,,,,842210.0,ns\n"), "raw.csv:2:21: expected 8 fields, found 7"),
        ("raw.csv", raw("spin,,,,,842210.0,ns,46,9\n"), "raw.csv:2:25: expected 8 fields, found 9"),
        ("raw.csv", raw("spin,,,,,842210.0,ns,46\nspin,,,,,84x,ns,46\n"), "raw.csv:3:10: `84x` is not a number"),
        ("raw.csv", raw("spin,,,,,NaN,ns,46\n"), "raw.csv:2:10: `NaN` is not a number"),
        ("raw.csv", raw("spin,,,,,-5,ns,46\n"), "raw.csv:2:10: -5 is out of range: must be a finite number ≥ 0"),
        ("raw.csv", raw("spin,,,,,842210.0,ps,46\n"), "raw.csv:2:19: unknown time unit `ps` (expected ns, us, µs, ms or s)"),
        ("raw.csv", raw("spin,,,,,842210.0,ns,0\n"), "raw.csv:2:22: 0 is out of range: must be positive"),
        ("raw.csv", raw("spin,,,,,842210.0,ns,4.5\n"), "raw.csv:2:22: `4.5` is not a number"),
        ("raw.csv", raw("spin,,,,,1,ns,1\n\"spin,,,,,1,ns,1\n"), "raw.csv:3:1: invalid CSV: unterminated quoted field"),
        ("raw.csv", raw("\"spin\"x,,,,,1,ns,1\n"), "raw.csv:2:7: invalid CSV: text after a closing quote"),
        ("raw.csv", raw("sp\"in,,,,,1,ns,1\n"), "raw.csv:2:3: invalid CSV: quote inside an unquoted field"),
        ("raw.csv", raw("spin,,,,,1,ns,1\nother,f,,,,1,ns,1\n"), "raw.csv:3:1: benchmark `other/f` in a file of benchmark `spin`"),
        // benchmark.json
        ("benchmark.json", r#"{"group_id":"g","title":"g","directory_name":"g"}"#.to_owned(), "benchmark.json: at .: missing field `full_id`"),
        ("benchmark.json", r#"{"group_id":"g","function_id":3}"#.to_owned(), "benchmark.json: at .function_id: expected a string, found a number"),
        ("benchmark.json", r#"{"group_id":"g","throughput":{"Elements":-1}}"#.to_owned(), "benchmark.json: at .throughput.Elements: expected a non-negative integer, found a number"),
        ("benchmark.json", r#"{"group_id":"g","throughput":{"Foo":1}}"#.to_owned(), "benchmark.json: at .throughput: unknown throughput `Foo` (expected Bytes, BytesDecimal, Elements, Bits or ElementsAndBytes)"),
        ("benchmark.json", r#"{"group_id":"g","throughput":{}}"#.to_owned(), "benchmark.json: at .throughput: expected an object with one key, found 0 keys"),
        // estimates.json and change/estimates.json
        ("estimates.json", r#"{"mean":{"point_estimate":1}}"#.to_owned(), "estimates.json: at .mean: missing field `confidence_interval`"),
        ("estimates.json", r#"{"mean":{"confidence_interval":{},"point_estimate":null}}"#.to_owned(), "estimates.json: at .mean.point_estimate: expected a number, found null"),
        ("change.json", r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0,"upper_bound":1},"point_estimate":0.5,"standard_error":0.1}}"#.to_owned(), "change.json: at .: missing field `median`"),
        ("change.json", r#"{"mean":{"confidence_interval":{"lower_bound":"0"}}}"#.to_owned(), "change.json: at .mean: missing field `point_estimate`"),
        // cargo-criterion: the line, then the place in it.
        ("cargo-criterion.jsonl", "{\"reason\":\"group-complete\"}\nCompiling foo\n".to_owned(), "cargo-criterion.jsonl:2:1: invalid JSON: expected value"),
        ("cargo-criterion.jsonl", "{\"reason\":\"benchmark-complete\",\"id\":\"x\",".to_owned(), "cargo-criterion.jsonl:1:40: invalid JSON: EOF while parsing a value"),
        ("cargo-criterion.jsonl", "{\"id\":\"x\"}".to_owned(), "cargo-criterion.jsonl:1: at .: missing field `reason`"),
        ("cargo-criterion.jsonl", format!("\n{}", cc(r#""id":"x","unit":"ns","measured_values":["1"]"#)), "cargo-criterion.jsonl:2: at .measured_values[0]: expected a number, found a string"),
        ("cargo-criterion.jsonl", cc(r#""id":"x","unit":"cycles""#), "cargo-criterion.jsonl:1: at .unit: unknown time unit `cycles` (expected ns, us, µs, ms or s)"),
        ("cargo-criterion.jsonl", cc(r#""id":"x","unit":"ns","measured_values":[1,2],"iteration_count":[1]"#), "cargo-criterion.jsonl:1: at .: `measured_values` has 2 values but `iteration_count` has 1"),
        ("cargo-criterion.jsonl", cc(r#""id":"x","unit":"ns","measured_values":[1],"iteration_count":[1]"#), "cargo-criterion.jsonl:1: at .: missing field `typical`"),
        // bencher lines: where the line stops looking like one.
        ("bencher.txt", "test foo ... bench:  12x ns/iter (+/- 3)".to_owned(), "bencher.txt:1:22: `12x` is not a number"),
        ("bencher.txt", "running 1 test\ntest foo ... bench: 1,23 ns/iter (+/- 3)".to_owned(), "bencher.txt:2:21: `1,23` is not a number"),
        ("bencher.txt", "test foo ... bench: 12 ns (+/- 3)".to_owned(), "bencher.txt:1:24: malformed bench line: expected a unit per iteration such as `ns/iter`"),
        ("bencher.txt", "test foo ... bench: 12 ps/iter (+/- 3)".to_owned(), "bencher.txt:1:24: unknown time unit `ps` (expected ns, us, µs, ms or s)"),
        ("bencher.txt", "test foo ... bench: 12 ns/iter".to_owned(), "bencher.txt:1:31: malformed bench line: expected `(+/-`"),
        ("bencher.txt", "test foo ... bench: 12 ns/iter (+/- 3".to_owned(), "bencher.txt:1:38: malformed bench line: expected `)`"),
        ("bencher.txt", "test foo ... bench: 12 ns/iter (+/- )".to_owned(), "bencher.txt:1:37: malformed bench line: expected a deviation"),
        ("bencher.txt", "test foo ... bench: 12 ns/iter (+/- 3) extra".to_owned(), "bencher.txt:1:40: malformed bench line: expected the end of the line"),
        ("bencher.txt", "test foo ... bench: 12 ns/iter (+/- 3) = fast MB/s".to_owned(), "bencher.txt:1:42: `fast` is not a number"),
        ("bencher.txt", "test foo ... bench".to_owned(), "bencher.txt:1:14: malformed bench line: expected `bench:`"),
        ("bencher.txt", "test foo ... bench:".to_owned(), "bencher.txt:1:20: malformed bench line: expected a time per iteration"),
        ("bencher.txt", "test  ... bench: 1 ns/iter (+/- 1)".to_owned(), "bencher.txt:1:6: malformed bench line: expected a benchmark name"),
        ("bencher.txt", "test ünïcödé ... bench: 1.2.3 ns/iter (+/- 1)".to_owned(), "bencher.txt:1:25: `1.2.3` is not a number"),
    ];
    let mut failures = Vec::new();
    for (file, input, expected) in &cases {
        match parser(file)(file, input) {
            Err(e) if e.to_string() == *expected => {
                assert_eq!(&e.file, file);
                let located = match &e.location {
                    Location::LineCol { line, column } => *line >= 1 && *column >= 1,
                    Location::JsonPath { path, .. } => path.starts_with('.'),
                    _ => false,
                };
                assert!(located, "{e:?}");
            }
            Err(e) => failures.push(format!("{file} {input:?}\n  expected: {expected}\n  got:      {e}")),
            Ok(()) => failures.push(format!("{file} {input:?}\n  expected: {expected}\n  got:      Ok")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_truncation_of_a_real_file_is_an_error_or_a_prefix() {
    let files = [
        ("sample.json", fixture("noise/spin/new/sample.json")),
        ("raw.csv", fixture("noise/scaled/spin/10k/new/raw.csv")),
        ("benchmark.json", fixture("noise/scaled/spin/10k/new/benchmark.json")),
        ("estimates.json", fixture("noise/spin/new/estimates.json")),
        ("change.json", fixture("noise/spin/change/estimates.json")),
        ("bencher.txt", fixture("libtest.txt")),
    ];
    for (file, text) in &files {
        let text = text.trim_end();
        let mut ok_prefixes = 0;
        for cut in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            if parser(file)(file, &text[..cut]).is_ok() {
                ok_prefixes += 1;
            }
        }
        // JSON never parses when cut short; line formats may parse when cut
        // at a line end or inside a number (a shorter, still valid value).
        if file.ends_with(".json") {
            assert_eq!(ok_prefixes, 0, "{file}");
        }
        assert!(parser(file)(file, text).is_ok(), "{file}");
    }
}

fn check_never_panics(text: &str) {
    for (file, parse) in PARSERS {
        if let Err(e) = parse(file, text) {
            assert_eq!(e.file, file);
            assert!(!e.to_string().is_empty());
        }
    }
}

/// Text made of the characters the formats are made of, so that the
/// parsers get past their first checks.
fn formatish() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("test ".to_owned()),
        Just(" ... ".to_owned()),
        Just("bench:".to_owned()),
        Just(" ns/iter ".to_owned()),
        Just("(+/- ".to_owned()),
        Just(")".to_owned()),
        Just(" = ".to_owned()),
        Just("MB/s".to_owned()),
        Just(RAW_HEADER.to_owned()),
        Just("\"reason\":\"benchmark-complete\"".to_owned()),
        Just("\"iters\":".to_owned()),
        Just("\"times\":".to_owned()),
        Just("\"sampling_mode\":\"Linear\"".to_owned()),
        "[\\[\\]{}\",:.0-9e\\-+ \n\r]{0,8}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics_on_arbitrary_text(text in any::<String>()) {
        check_never_panics(&text);
    }

    #[test]
    fn no_parser_panics_on_format_like_text(text in formatish()) {
        check_never_panics(&text);
    }

    #[test]
    fn no_parser_panics_on_a_mangled_real_file(
        which in 0usize..5,
        at in any::<prop::sample::Index>(),
        insert in "\\PC{0,3}",
        delete in 0usize..4,
    ) {
        let file = ["noise/spin/new/sample.json", "noise/spin/new/raw.csv", "noise/spin/new/benchmark.json",
            "noise/spin/change/estimates.json", "libtest.txt"][which];
        let text = fixture(file);
        let mut cut = at.index(text.len() + 1);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let rest: String = text[cut..].chars().skip(delete).collect();
        check_never_panics(&format!("{}{insert}{rest}", &text[..cut]));
    }
}
