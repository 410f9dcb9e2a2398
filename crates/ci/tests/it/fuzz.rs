//! Property tests: hostile input never panics the front end.

use ci::gitlab::{self, Context, Project};
use proptest::prelude::*;

struct One(String, Vec<String>);

impl Project for One {
    fn read(&self, path: &str) -> Result<String, String> {
        if path == ".gitlab-ci.yml" || path == "inc.yml" { Ok(self.0.clone()) } else { Err("missing".into()) }
    }
    fn files(&self) -> &[String] {
        &self.1
    }
    fn changed(&self, _: Option<&str>) -> Option<Vec<String>> {
        Some(vec!["a.rs".into()])
    }
}

const SEED: &str = r#"
stages: [build, test, deploy]
variables: {A: "1", B: "$A-x"}
default:
  before_script: [echo hi]
.tmpl: &tmpl
  image: alpine
  script: [echo tmpl]
build:
  <<: *tmpl
  stage: build
  rules:
    - if: '$CI_COMMIT_BRANCH == "main" && $A =~ /1/'
      when: always
    - changes: ["*.rs"]
  artifacts: {paths: [out/], reports: {dotenv: build.env}}
test:
  extends: .tmpl
  needs: [build]
  parallel: {matrix: [{OS: [linux, mac], V: ["1", "2"]}]}
  script: [!reference [.tmpl, script], echo test]
  retry: {max: 2, when: [script_failure]}
deploy:
  stage: deploy
  when: manual
  include: inc.yml
  environment: {name: prod, url: "https://$A"}
  only: [main, /^rel-/]
"#;

/// Apply edits to `seed`: replace, insert, delete, or duplicate a slice.
pub(crate) fn mutate(seed: &str, ops: &[(u8, usize, char)]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for &(op, pos, c) in ops {
        if chars.is_empty() {
            chars.push(c);
            continue;
        }
        let p = pos % chars.len();
        match op % 4 {
            0 => chars[p] = c,
            1 => chars.insert(p, c),
            2 => {
                chars.remove(p);
            }
            _ => {
                // Duplicate a slice: stresses anchors, nesting and indentation.
                let end = (p + (c as usize % 40)).min(chars.len());
                let slice: Vec<char> = chars[p..end].to_vec();
                for (i, ch) in slice.into_iter().enumerate() {
                    chars.insert(end + i, ch);
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn compile(text: String) {
    let ctx = Context { source: "push".into(), ..Default::default() };
    let project = One(text, vec!["a.rs".into(), "inc.yml".into()]);
    let c = gitlab::compile(".gitlab-ci.yml", &project, &ctx);
    for d in &c.diagnostics {
        let _ = c.sources.render(d);
        assert!(d.pos.line >= 1, "diagnostic without a line: {d:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_pipelines_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<usize>(), prop::sample::select(vec![' ', '\n', ':', '-', '[', ']', '{', '}', '&', '*', '!', '"', '\'', '$', '<', 'a', '0', '#', '|', '>', '\t', '%', '@', '`', ',', '.'])), 0..12)) {
        compile(mutate(SEED, &ops));
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
        compile(s);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    compile("a: ".to_string() + &"[".repeat(100_000));
    compile("a:\n".to_string() + &(0..5000).map(|i| format!("{}- x\n", " ".repeat(i % 200))).collect::<String>());
}
