//! Stage three: apply the run context (ref, event, variables, changed files)
//! to validated job definitions and produce the [`Pipeline`] model.

use super::expr;
use super::job::{
    self, ChangesDef, Inherit, JobDef, NeedDef, OnlyDef, ParallelDef, Reader, RuleDef, VarScope, WhenDef,
};
use super::load::GLOBAL_KEYS;
use super::{Context, Project};
use crate::diag::{Diagnostic, SourceMap, did_you_mean};
use crate::model::{
    AllowFailure, Artifacts, Cache, CacheKey, DEFAULT_TIMEOUT_SECS, Environment, InputSpec, Job, NeedEdge,
    PatternSyntax, Pipeline, When, no_skip_value,
};
use crate::vars::{self, RawVar};
use crate::yaml::{Key, Map, Mark, Node};
use std::collections::{HashMap, HashSet};

pub(crate) struct Built {
    pub pipeline: Option<Pipeline>,
    /// Jobs left out by rules/only/except, with the reason.
    pub excluded: Vec<(String, String)>,
    /// `workflow:rules` decided not to run the pipeline at all.
    pub workflow_excluded: bool,
}

struct Instance {
    name: String,
    matrix: Vec<(String, String)>,
    node: Option<(u32, u32)>,
}

struct Pending {
    job: Job,
    needs: Option<Vec<NeedDef>>,
    deps: Option<Vec<(String, Mark)>>,
    order: (usize, usize, usize),
}

pub(crate) fn build(
    root: &Node,
    file: &str,
    ctx: &Context,
    project: &dyn Project,
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Built {
    let mut r = Reader { diags, sources };
    let empty = Map::default();
    let map = root.as_map().unwrap_or(&empty);

    // --- Global keywords -------------------------------------------------
    let mut user_stages: Option<Vec<(String, Mark)>> = None;
    if let Some(n) = map.get("stages") {
        if n.as_seq().is_some() {
            user_stages = r.strings(n, "stages");
        } else {
            r.wrong(n, "stages", "a list of stage names");
        }
    }
    let mut stages = vec![".pre".to_string()];
    match &user_stages {
        Some(list) => {
            for (s, _) in list {
                if s != ".pre" && s != ".post" && !stages.contains(s) {
                    stages.push(s.clone());
                }
            }
        }
        None => stages.extend(["build", "test", "deploy"].map(String::from)),
    }
    stages.push(".post".to_string());

    let global_vars = map.get("variables").map(|n| r.variables(n, "variables", VarScope::Global)).unwrap_or_default();

    let mut defaults = Map::default();
    if let Some(n) = map.get("default")
        && let Some(dm) = r.map(n, "default")
    {
        r.unknown_keys(dm, job::DEFAULT_KEYS, "`default`");
        for (k, v) in &dm.entries {
            if job::DEFAULT_KEYS.contains(&k.name.as_str()) {
                defaults.insert(k.clone(), v.clone());
            }
        }
    }
    // Deprecated global keywords act as defaults when `default:` lacks them.
    for key in ["image", "services", "before_script", "after_script", "cache"] {
        if let Some((k, v)) = map.get_entry(key)
            && !defaults.contains(key)
        {
            defaults.insert(k.clone(), v.clone());
        }
    }

    // --- workflow ---------------------------------------------------------
    let mut workflow_vars: Vec<RawVar> = vec![];
    let mut pipeline_name = None;
    // With `workflow:rules`, jobs lose the `only: [branches, tags]` default.
    let mut has_workflow_rules = false;
    let pipeline_layer = ctx.pipeline_layer();
    let predefined = ctx.predefined();
    if let Some(w) = map.get("workflow")
        && let Some(wm) = r.map(w, "workflow")
    {
        r.unknown_keys(wm, &["rules", "name", "auto_cancel"], "`workflow`");
        let rules: Vec<RuleDef> = match wm.get("rules") {
            Some(n) => match n.as_seq() {
                Some(items) => {
                    job::flatten(items).filter_map(|i| job::parse_rule(&mut r, i, "workflow:rules", false)).collect()
                }
                None => {
                    r.wrong(n, "workflow:rules", "a list");
                    vec![]
                }
            },
            None => vec![],
        };
        has_workflow_rules = wm.contains("rules");
        let resolved = vars::resolve(&[&predefined, &global_vars, &pipeline_layer], &|k| ctx.env(k));
        if wm.contains("rules") && !rules.is_empty() {
            let lookup = lookup_in(&resolved);
            match first_matching_rule(&rules, &lookup, project, ctx) {
                Some(rule) if rule.when != Some(WhenDef::Never) => workflow_vars = rule.variables.clone(),
                _ => {
                    return Built { pipeline: None, excluded: vec![], workflow_excluded: true };
                }
            }
        }
        if let Some(n) = wm.get("name")
            && let Some(s) = r.string(n, "workflow:name")
        {
            let resolved =
                vars::resolve(&[&predefined, &global_vars, &workflow_vars, &pipeline_layer], &|k| ctx.env(k));
            pipeline_name = Some(vars::expand(&s, &lookup_in(&resolved)));
        }
    }

    // --- Jobs -------------------------------------------------------------
    let mut defs: Vec<JobDef> = Vec::new();
    let mut hidden_names: Vec<String> = Vec::new();
    for (k, v) in &map.entries {
        let name = k.name.as_str();
        if GLOBAL_KEYS.contains(&name) {
            continue;
        }
        if name.starts_with('.') {
            hidden_names.push(name.to_string());
            continue;
        }
        if let Some(keyword) = misspelled_keyword(name, v) {
            r.diags.push(
                Diagnostic::error("unknown-key", format!("unknown top-level key `{name}`"))
                    .at_mark(k.mark)
                    .help(format!("did you mean `{keyword}`?")),
            );
            continue;
        }
        let mut node = v.clone();
        if let Some(jm) = node.as_map_mut() {
            let inherit = job::inherit_default(&mut r, jm);
            for (dk, dv) in &defaults.entries {
                if inherit.allows(&dk.name) && !jm.contains(&dk.name) {
                    jm.entries.push((Key { name: dk.name.clone(), mark: dk.mark }, dv.clone()));
                }
            }
        }
        if let Some(def) = job::parse_job(&mut r, name, k.mark, &node) {
            defs.push(def);
        }
    }
    let diags = r.diags;

    let def_names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    let stage_of = |d: &JobDef| -> Option<usize> {
        let s = d.stage.as_ref().map(|s| s.0.as_str()).unwrap_or("test");
        stages.iter().position(|x| x == s)
    };

    // Static checks that do not depend on the context.
    for d in &defs {
        if stage_of(d).is_none() {
            let (s, mark) = d.stage.clone().unwrap_or(("test".into(), d.mark));
            let mut diag = Diagnostic::error(
                "unknown-stage",
                format!(
                    "job `{}` uses stage `{s}`, which is not in `stages` ({})",
                    d.name,
                    stages[1..stages.len() - 1].join(", ")
                ),
            )
            .at_mark(mark);
            if d.stage.is_none() {
                diag =
                    diag.help("a job without `stage:` runs in `test`; add `test` to `stages` or give the job a stage");
            } else if let Some(x) = did_you_mean(&s, stages.iter().map(|s| s.as_str())) {
                diag = diag.help(format!("did you mean `{x}`?"));
            }
            diags.push(diag);
        }
        let mut all_needs: Vec<&NeedDef> = d.needs.iter().flatten().collect();
        for rule in d.rules.iter().flatten() {
            all_needs.extend(rule.needs.iter().flatten());
        }
        for list in d.needs.iter().chain(d.rules.iter().flatten().filter_map(|r| r.needs.as_ref())) {
            report_duplicate_needs(&d.name, list, diags);
        }
        for n in all_needs {
            if !def_names.contains(&n.job.as_str()) && !n.optional {
                let mut diag = Diagnostic::error(
                    "unknown-need",
                    format!("job `{}` needs `{}`, which is not defined", d.name, n.job),
                )
                .at_mark(n.mark);
                if hidden_names.contains(&n.job) {
                    diag = diag.help("hidden jobs (starting with `.`) never run and cannot be needed");
                } else if let Some(x) = did_you_mean(&n.job, def_names.iter().copied()) {
                    diag = diag.help(format!("did you mean `{x}`?"));
                }
                diags.push(diag);
            } else if let (Some(me), Some(other)) =
                (stage_of(d), defs.iter().find(|x| x.name == n.job).and_then(stage_of))
                && other > me
            {
                diags.push(
                    Diagnostic::error(
                        "need-later-stage",
                        format!("job `{}` needs `{}`, which is in a later stage (`{}`)", d.name, n.job, stages[other]),
                    )
                    .at_mark(n.mark),
                );
            }
        }
        for (dep, mark) in d.dependencies.iter().flatten() {
            match defs.iter().find(|x| &x.name == dep) {
                None => {
                    let mut diag = Diagnostic::error(
                        "unknown-dependency",
                        format!("job `{}` depends on `{dep}`, which is not defined", d.name),
                    )
                    .at_mark(*mark);
                    if let Some(x) = did_you_mean(dep, def_names.iter().copied()) {
                        diag = diag.help(format!("did you mean `{x}`?"));
                    }
                    diags.push(diag);
                }
                Some(other) => {
                    if let (Some(me), Some(o)) = (stage_of(d), stage_of(other))
                        && o > me
                    {
                        diags.push(
                            Diagnostic::error(
                                "dependency-stage",
                                format!(
                                    "job `{}` depends on `{dep}`, which is in a later stage (`{}`)",
                                    d.name, stages[o]
                                ),
                            )
                            .at_mark(*mark),
                        );
                    }
                    if let Some(needs) = &d.needs
                        && !needs.iter().any(|n| &n.job == dep)
                    {
                        diags.push(
                            Diagnostic::error(
                                "dependency-not-needed",
                                format!("job `{}`: `dependencies` entry `{dep}` must also be in `needs`", d.name),
                            )
                            .at_mark(*mark),
                        );
                    }
                }
            }
        }
    }
    check_definition_cycles(&defs, diags);

    // --- Context: instances, rules, variables ----------------------------
    let mut pending: Vec<Pending> = Vec::new();
    let mut excluded = Vec::new();
    for (di, d) in defs.iter().enumerate() {
        let Some(stage_index) = stage_of(d) else { continue };
        if d.trigger {
            diags.push(
                Diagnostic::warning(
                    "unsupported",
                    format!(
                        "job `{}`: `trigger` (downstream pipelines) is not supported locally; the job is left out",
                        d.name
                    ),
                )
                .at_mark(d.mark),
            );
            excluded.push((d.name.clone(), "trigger jobs are not supported locally".into()));
            continue;
        }
        for (ii, inst) in instances(d).into_iter().enumerate() {
            let stage = stages[stage_index].clone();
            // The pipeline's own variables: global ones overridden by
            // `workflow:rules:variables`; `inherit:variables` filters both.
            let root = global_vars.iter().chain(&workflow_vars);
            let root: Vec<RawVar> = match &d.inherit_variables {
                Inherit::All => root.cloned().collect(),
                Inherit::None => vec![],
                Inherit::Only(list) => root.filter(|v| list.contains(&v.key)).cloned().collect(),
            };
            let mut job_pre = vec![
                rv("CI_JOB_NAME", &inst.name),
                rv("CI_JOB_NAME_SLUG", &vars::slug(&inst.name)),
                rv("CI_JOB_STAGE", &stage),
                rv("CI_NODE_TOTAL", &inst.node.map(|n| n.1).unwrap_or(1).to_string()),
            ];
            if let Some((i, _)) = inst.node {
                job_pre.push(rv("CI_NODE_INDEX", &i.to_string()));
            }
            let matrix_vars: Vec<RawVar> = inst.matrix.iter().map(|(k, v)| rv(k, v)).collect();
            let base_layers: [&[RawVar]; 5] = [&predefined, &job_pre, &root, &d.variables, &matrix_vars];
            let pre_rules = {
                let mut layers: Vec<&[RawVar]> = base_layers.to_vec();
                layers.push(&pipeline_layer);
                vars::resolve(&layers, &|k| ctx.env(k))
            };
            let lookup = lookup_in(&pre_rules);

            // Decide inclusion.
            // The job's own `allow_failure`, or GitLab's default for it: true
            // when the job itself says `when: manual`. `rules:allow_failure`
            // overrides it; a `when: manual` that comes from a rule does not
            // change it.
            let static_allow_failure = d
                .allow_failure
                .clone()
                .unwrap_or(AllowFailure { allowed: d.when == Some(WhenDef::Manual), exit_codes: vec![] });
            let decision = match &d.rules {
                Some(rules) => match first_matching_rule(rules, &lookup, project, ctx) {
                    None => {
                        excluded.push((inst.name.clone(), "no `rules` entry matched".into()));
                        continue;
                    }
                    Some(rule) if rule.when == Some(WhenDef::Never) => {
                        excluded.push((inst.name.clone(), "`rules` matched with `when: never`".into()));
                        continue;
                    }
                    Some(rule) => Decision {
                        when: rule.when.or(d.when).unwrap_or(WhenDef::OnSuccess),
                        allow_failure: rule.allow_failure.clone().unwrap_or(static_allow_failure),
                        rule_vars: rule.variables.clone(),
                        needs: rule.needs.clone().or_else(|| d.needs.clone()),
                        start_in: rule.start_in,
                    },
                },
                None => {
                    let default_only = OnlyDef { refs: vec!["branches".into(), "tags".into()], ..Default::default() };
                    let only = d.only.as_ref().or((!has_workflow_rules).then_some(&default_only));
                    if let Some(only) = only
                        && !only_matches(only, ctx, &lookup, project)
                    {
                        excluded.push((inst.name.clone(), "`only` does not match this pipeline".into()));
                        continue;
                    }
                    if let Some(except) = &d.except
                        && except_matches(except, ctx, &lookup, project)
                    {
                        excluded.push((inst.name.clone(), "`except` matches this pipeline".into()));
                        continue;
                    }
                    Decision {
                        when: d.when.unwrap_or(WhenDef::OnSuccess),
                        allow_failure: static_allow_failure,
                        rule_vars: vec![],
                        needs: d.needs.clone(),
                        start_in: d.start_in,
                    }
                }
            };

            let when = match decision.when {
                WhenDef::OnSuccess | WhenDef::Never => When::OnSuccess,
                WhenDef::OnFailure => When::OnFailure,
                WhenDef::Always => When::Always,
                WhenDef::Manual => When::Manual,
                WhenDef::Delayed => When::Delayed,
            };
            let allow_failure = decision.allow_failure;
            let timeout_secs = d.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
            let mut job_pre2 = job_pre.clone();
            job_pre2.push(rv("CI_JOB_TIMEOUT", &timeout_secs.to_string()));
            if when == When::Manual {
                job_pre2.push(rv("CI_JOB_MANUAL", "true"));
            }
            let mut layers: Vec<&[RawVar]> =
                vec![&predefined, &job_pre2, &root, &d.variables, &matrix_vars, &decision.rule_vars];
            layers.push(&pipeline_layer);
            let mut variables = vars::resolve(&layers, &|k| ctx.env(k));
            let expand = |s: &str, vars: &[(String, String)]| vars::expand(s, &lookup_in(vars));

            let environment = d.environment.as_ref().map(|e| Environment {
                name: expand(&e.name, &variables),
                url: e.url.as_ref().map(|u| expand(u, &variables)),
                action: e.action.clone(),
            });
            if let Some(env) = &environment {
                let mut extra = vec![
                    ("CI_ENVIRONMENT_NAME".to_string(), env.name.clone()),
                    ("CI_ENVIRONMENT_SLUG".to_string(), vars::slug(&env.name)),
                    ("CI_ENVIRONMENT_ACTION".to_string(), env.action.clone().unwrap_or_else(|| "start".into())),
                ];
                if let Some(u) = &env.url {
                    extra.push(("CI_ENVIRONMENT_URL".to_string(), u.clone()));
                }
                for (k, v) in extra {
                    if !variables.iter().any(|(n, _)| n == &k) {
                        variables.push((k, v));
                    }
                }
            }
            let artifacts = d.artifacts.as_ref().map(|a| Artifacts {
                name: a.name.as_ref().map(|n| expand(n, &variables)),
                paths: a.paths.iter().map(|p| expand(p, &variables)).collect(),
                exclude: a.exclude.iter().map(|p| expand(p, &variables)).collect(),
                dotenv: a.dotenv.iter().map(|p| expand(p, &variables)).collect(),
                junit: a.junit.iter().map(|p| expand(p, &variables)).collect(),
                ..a.clone()
            });
            let caches: Vec<Cache> = d
                .caches
                .iter()
                .map(|c| Cache {
                    key: match &c.key {
                        CacheKey::Literal(k) => CacheKey::Literal(expand(k, &variables)),
                        CacheKey::Files { files, prefix } => CacheKey::Files {
                            files: files.iter().map(|f| expand(f, &variables)).collect(),
                            prefix: prefix.as_ref().map(|p| expand(p, &variables)),
                        },
                    },
                    paths: c.paths.iter().map(|p| expand(p, &variables)).collect(),
                    untracked: c.untracked,
                    policy: c.policy,
                    when: c.when,
                    fallback_keys: c.fallback_keys.iter().map(|k| expand(k, &variables)).collect(),
                })
                .collect();
            let masked: Vec<String> = ctx.secrets.iter().map(|(k, _)| k.clone()).collect();
            let inputs = declared_inputs(d, &lookup, &caches);
            let skippable = d.skippable
                && !variables.iter().rev().find(|(k, _)| k == "SHIPWAY_NO_SKIP").is_some_and(|(_, v)| no_skip_value(v));
            let job = Job {
                name: inst.name.clone(),
                definition: d.name.clone(),
                stage,
                stage_index,
                needs: None,
                dependencies: None,
                when,
                start_in_secs: decision.start_in,
                allow_failure,
                before_script: d.before_script.clone(),
                script: d.script.clone(),
                after_script: d.after_script.clone(),
                image: d.image.as_ref().map(|i| expand(i, &variables)),
                variables,
                masked,
                timeout_secs,
                retry: d.retry.clone(),
                artifacts,
                caches,
                environment,
                coverage: d.coverage.clone(),
                node: inst.node,
                mark: d.mark,
                github: None,
                inputs,
                skippable,
            };
            pending.push(Pending {
                job,
                needs: decision.needs,
                deps: d.dependencies.clone(),
                order: (stage_index, di, ii),
            });
        }
    }

    pending.sort_by_key(|p| p.order);
    // Resolve needs and dependencies to indices.
    let names: Vec<(String, String)> = pending.iter().map(|p| (p.job.definition.clone(), p.job.name.clone())).collect();
    let mut jobs: Vec<Job> = Vec::with_capacity(pending.len());
    let mut need_marks: Vec<Vec<Mark>> = Vec::new();
    for p in &pending {
        let mut job = p.job.clone();
        let mut marks = Vec::new();
        if let Some(needs) = &p.needs {
            let mut edges: Vec<NeedEdge> = Vec::new();
            for n in needs {
                let targets: Vec<usize> = match &n.matrix {
                    None => names.iter().enumerate().filter(|(_, (def, _))| def == &n.job).map(|(i, _)| i).collect(),
                    Some(combos) => {
                        let wanted: Vec<String> = combos.iter().map(|c| matrix_name(&n.job, c)).collect();
                        names
                            .iter()
                            .enumerate()
                            .filter(|(_, (_, name))| wanted.contains(name))
                            .map(|(i, _)| i)
                            .collect()
                    }
                };
                if targets.is_empty() {
                    if !n.optional && def_names.contains(&n.job.as_str()) {
                        diags.push(
                            Diagnostic::error(
                                "need-not-in-pipeline",
                                format!(
                                    "job `{}` needs `{}`, which is not in this pipeline (its rules leave it out); mark the need `optional: true`",
                                    job.name, n.job
                                ),
                            )
                            .at_mark(n.mark),
                        );
                    }
                    continue;
                }
                for t in targets {
                    if !edges.iter().any(|e| e.job == t) {
                        edges.push(NeedEdge { job: t, artifacts: n.artifacts });
                        marks.push(n.mark);
                    }
                }
            }
            if edges.len() > 50 {
                diags.push(
                    Diagnostic::error("too-many-needs", format!("job `{}` has more than 50 needs", job.name))
                        .at_mark(job.mark),
                );
            }
            job.needs = Some(edges);
        }
        if let Some(deps) = &p.deps {
            let mut idx = Vec::new();
            for (dep, _) in deps {
                idx.extend(names.iter().enumerate().filter(|(_, (def, _))| def == dep).map(|(i, _)| i));
            }
            job.dependencies = Some(idx);
        }
        jobs.push(job);
        need_marks.push(marks);
    }
    check_instance_cycles(&jobs, &need_marks, diags);
    let pipeline = Pipeline { name: pipeline_name, file: file.to_string(), stages, jobs };
    Built { pipeline: Some(pipeline), excluded, workflow_excluded: false }
}

struct Decision {
    when: WhenDef,
    allow_failure: AllowFailure,
    rule_vars: Vec<RawVar>,
    needs: Option<Vec<NeedDef>>,
    start_in: Option<u64>,
}

fn rv(k: &str, v: &str) -> RawVar {
    RawVar { key: k.to_string(), value: v.to_string(), expand: false }
}

fn lookup_in(vars: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |k: &str| vars.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// GitLab rejects a `needs` list that names the same job (or the same
/// matrix instance) twice.
fn report_duplicate_needs(job: &str, needs: &[NeedDef], diags: &mut Vec<Diagnostic>) {
    let mut seen: HashSet<String> = HashSet::new();
    for n in needs {
        let names = match &n.matrix {
            None => vec![n.job.clone()],
            Some(combos) => combos.iter().map(|c| matrix_name(&n.job, c)).collect(),
        };
        for name in names {
            if !seen.insert(name.clone()) {
                diags.push(
                    Diagnostic::error("duplicate-need", format!("job `{job}` needs `{name}` more than once"))
                        .at_mark(n.mark),
                );
            }
        }
    }
}

/// The global keyword a top-level `name` probably misspells (`stags:`,
/// `variabels:`): the name is close to one and its value cannot be a job
/// (it is not a mapping, or has no `script`, `trigger` or `run`).
fn misspelled_keyword(name: &str, value: &Node) -> Option<&'static str> {
    let job_like = value.as_map().is_some_and(|m| m.contains("script") || m.contains("trigger") || m.contains("run"));
    if job_like {
        return None;
    }
    did_you_mean(name, GLOBAL_KEYS.iter().copied())
}

fn matrix_name(job: &str, combo: &[(String, String)]) -> String {
    let vals: Vec<&str> = combo.iter().map(|(_, v)| v.as_str()).collect();
    format!("{job}: [{}]", vals.join(", "))
}

fn instances(d: &JobDef) -> Vec<Instance> {
    match &d.parallel {
        None => vec![Instance { name: d.name.clone(), matrix: vec![], node: None }],
        Some(ParallelDef::Count(n)) => (1..=*n)
            .map(|i| Instance { name: format!("{} {i}/{n}", d.name), matrix: vec![], node: Some((i, *n)) })
            .collect(),
        Some(ParallelDef::Matrix(rows)) => {
            let combos: Vec<Vec<(String, String)>> = rows.iter().cloned().flat_map(job::expand_matrix_row).collect();
            let total = combos.len() as u32;
            combos
                .into_iter()
                .enumerate()
                .map(|(i, c)| Instance { name: matrix_name(&d.name, &c), matrix: c, node: Some((i as u32 + 1, total)) })
                .collect()
        }
    }
}

fn first_matching_rule<'r>(
    rules: &'r [RuleDef],
    lookup: &dyn Fn(&str) -> Option<String>,
    project: &dyn Project,
    ctx: &Context,
) -> Option<&'r RuleDef> {
    rules.iter().find(|rule| {
        if let Some(e) = &rule.if_
            && !expr::eval(e, lookup)
        {
            return false;
        }
        if let Some(c) = &rule.changes
            && !changes_match(c, lookup, project, ctx)
        {
            return false;
        }
        if let Some(ex) = &rule.exists {
            let any = ex.iter().any(|p| {
                let p = vars::expand(p, lookup);
                !project.glob(p.trim_start_matches('/')).is_empty()
            });
            if !any {
                return false;
            }
        }
        true
    })
}

/// Whether a pipeline has a list of pushed changes to test `changes` with:
/// branch pushes and merge requests do; tags, schedules, web and API
/// pipelines do not, and GitLab then treats `changes` as matching.
fn has_push_diff(ctx: &Context) -> bool {
    !ctx.git.is_tag && matches!(ctx.source.as_str(), "push" | "merge_request_event" | "external_pull_request_event")
}

pub(crate) fn changes_match(
    c: &ChangesDef,
    lookup: &dyn Fn(&str) -> Option<String>,
    project: &dyn Project,
    ctx: &Context,
) -> bool {
    let compare_to = c.compare_to.as_ref().map(|s| vars::expand(s, lookup));
    if compare_to.is_none() && !has_push_diff(ctx) {
        return true;
    }
    let Some(changed) = project.changed(compare_to.as_deref()) else {
        // Unknown base (new branch, no history): GitLab treats changes as true.
        return true;
    };
    let patterns: Vec<String> = c.paths.iter().map(|p| vars::expand(p, lookup)).collect();
    changed.iter().any(|f| patterns.iter().any(|p| super::glob_match(p.trim_start_matches('/'), f)))
}

/// The files a job declares it reads: the `changes` patterns of its rules
/// (every rule that has `changes`, whether or not it is the one that
/// matched) or of `only:changes`, expanded as [`changes_match`] expands
/// them, then its `cache:key:files`. `None` (every file) when the job
/// declares no `changes` patterns at all.
fn declared_inputs(d: &JobDef, lookup: &dyn Fn(&str) -> Option<String>, caches: &[Cache]) -> Option<InputSpec> {
    let changes: Vec<&ChangesDef> = match &d.rules {
        Some(rules) => rules.iter().filter_map(|r| r.changes.as_ref()).collect(),
        None => d.only.iter().filter_map(|o| o.changes.as_ref()).collect(),
    };
    fn add(include: &mut Vec<String>, p: String) {
        if !include.contains(&p) {
            include.push(p);
        }
    }
    let mut include: Vec<String> = Vec::new();
    for c in changes {
        for p in &c.paths {
            add(&mut include, vars::expand(p, lookup));
        }
    }
    if include.is_empty() {
        return None;
    }
    for c in caches {
        if let CacheKey::Files { files, .. } = &c.key {
            for f in files {
                add(&mut include, f.clone());
            }
        }
    }
    Some(InputSpec { include, exclude: vec![], syntax: PatternSyntax::GitLab })
}

/// `only`: every part given (refs, variables, changes) must match.
fn only_matches(o: &OnlyDef, ctx: &Context, lookup: &dyn Fn(&str) -> Option<String>, project: &dyn Project) -> bool {
    let refs_ok = o.refs.is_empty() || o.refs.iter().any(|r| ref_matches(r, ctx));
    let vars_ok = o.variables.is_empty() || o.variables.iter().any(|e| expr::eval(e, lookup));
    let changes_ok = match &o.changes {
        Some(c) => changes_match(c, lookup, project, ctx),
        None => true,
    };
    refs_ok && vars_ok && changes_ok
}

/// `except`: any part given (refs, variables, changes) that matches leaves
/// the job out.
fn except_matches(o: &OnlyDef, ctx: &Context, lookup: &dyn Fn(&str) -> Option<String>, project: &dyn Project) -> bool {
    o.refs.iter().any(|r| ref_matches(r, ctx))
        || o.variables.iter().any(|e| expr::eval(e, lookup))
        || o.changes.as_ref().is_some_and(|c| changes_match(c, lookup, project, ctx))
}

/// One `only`/`except` refs entry, as GitLab matches it: `pattern@path`
/// also requires the project path; `branches` and `tags`; the pipeline
/// source (`push`/`pushes`, `merge_requests`, `schedules`, ...); then, for
/// branch and tag pipelines only, a `/regex/` or the exact ref name.
fn ref_matches(entry: &str, ctx: &Context) -> bool {
    let (pattern, path) = match entry.split_once('@') {
        Some((p, path)) => (p, Some(path)),
        None => (entry, None),
    };
    let project_path = format!("{}/{}", ctx.git.project_namespace, ctx.git.project_name);
    if path.is_some_and(|p| p != project_path) {
        return false;
    }
    let is_mr = ctx.source == "merge_request_event";
    let is_branch = !ctx.git.is_tag && !is_mr;
    if (pattern == "tags" && ctx.git.is_tag) || (pattern == "branches" && is_branch) {
        return true;
    }
    let source = ctx.source.strip_suffix("_event").unwrap_or(&ctx.source);
    let plural = if source.ends_with("sh") || source.ends_with("ch") || source.ends_with('s') || source.ends_with('x') {
        format!("{source}es")
    } else {
        format!("{source}s")
    };
    if pattern == source || pattern == plural {
        return true;
    }
    if !(is_branch || ctx.git.is_tag) {
        return false;
    }
    if let Some(body) = pattern.strip_prefix('/')
        && let Some(end) = body.rfind('/')
        && body[end + 1..].chars().all(|f| matches!(f, 'i' | 'm' | 's' | 'x' | 'U'))
    {
        let (re, flags) = (&body[..end], &body[end + 1..]);
        let mut b = regex::RegexBuilder::new(re);
        b.case_insensitive(flags.contains('i'));
        return b.build().map(|re| re.is_match(&ctx.git.ref_name)).unwrap_or(false);
    }
    pattern == ctx.git.ref_name
}

fn check_definition_cycles(defs: &[JobDef], diags: &mut Vec<Diagnostic>) {
    let index: HashMap<&str, usize> = defs.iter().enumerate().map(|(i, d)| (d.name.as_str(), i)).collect();
    let edges: Vec<Vec<(usize, Mark)>> = defs
        .iter()
        .map(|d| {
            let mut v: Vec<(usize, Mark)> = Vec::new();
            for n in d.needs.iter().flatten() {
                if let Some(&j) = index.get(n.job.as_str()) {
                    v.push((j, n.mark));
                }
            }
            v
        })
        .collect();
    report_cycles(&edges, &|i| defs[i].name.clone(), diags);
}

fn check_instance_cycles(jobs: &[Job], marks: &[Vec<Mark>], diags: &mut Vec<Diagnostic>) {
    let edges: Vec<Vec<(usize, Mark)>> = jobs
        .iter()
        .zip(marks)
        .map(|(j, m)| j.needs.iter().flatten().zip(m).map(|(e, mark)| (e.job, *mark)).collect())
        .collect();
    // Definition-level cycles are already reported; only report new ones.
    let before = diags.iter().filter(|d| d.rule == "needs-cycle").count();
    if before == 0 {
        report_cycles(&edges, &|i| jobs[i].name.clone(), diags);
    }
}

/// Iterative DFS; reports each cycle once, at the need that closes it.
fn report_cycles(edges: &[Vec<(usize, Mark)>], name: &dyn Fn(usize) -> String, diags: &mut Vec<Diagnostic>) {
    #[derive(Clone, Copy, PartialEq)]
    enum C {
        White,
        Grey,
        Black,
    }
    let n = edges.len();
    let mut color = vec![C::White; n];
    let mut reported: HashSet<Vec<usize>> = HashSet::new();
    for start in 0..n {
        if color[start] != C::White {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        let mut path: Vec<usize> = vec![start];
        color[start] = C::Grey;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if *next < edges[node].len() {
                let (to, mark) = edges[node][*next];
                *next += 1;
                match color[to] {
                    C::White => {
                        color[to] = C::Grey;
                        stack.push((to, 0));
                        path.push(to);
                    }
                    C::Grey => {
                        let pos = path.iter().position(|&p| p == to).unwrap_or(0);
                        let mut cyc: Vec<usize> = path[pos..].to_vec();
                        let mut key = cyc.clone();
                        key.sort_unstable();
                        if reported.insert(key) {
                            cyc.push(to);
                            let names: Vec<String> = cyc.iter().map(|&i| name(i)).collect();
                            diags.push(
                                Diagnostic::error(
                                    "needs-cycle",
                                    format!("`needs` form a cycle: {}", names.join(" -> ")),
                                )
                                .at_mark(mark),
                            );
                        }
                    }
                    C::Black => {}
                }
            } else {
                color[node] = C::Black;
                stack.pop();
                path.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ref_matches;
    use crate::gitlab::{Context, GitInfo};

    fn ctx(source: &str, ref_name: &str, is_tag: bool) -> Context {
        let git = GitInfo {
            ref_name: ref_name.into(),
            is_tag,
            project_namespace: "group".into(),
            project_name: "demo".into(),
            ..Default::default()
        };
        Context { source: source.into(), git, ..Default::default() }
    }

    #[test]
    fn refs_match_like_gitlab() {
        let branch = ctx("push", "feature/x", false);
        assert!(ref_matches("branches", &branch));
        assert!(ref_matches("branches@group/demo", &branch));
        assert!(!ref_matches("branches@other/demo", &branch));
        assert!(ref_matches("pushes", &branch) && ref_matches("push", &branch));
        assert!(ref_matches("/^FEAT/i", &branch));
        assert!(ref_matches("feature/x", &branch));
        let tag = ctx("push", "v1.0", true);
        assert!(ref_matches("tags", &tag) && !ref_matches("branches", &tag));
        assert!(ref_matches("/^v\\d/", &tag));
        // Merge request pipelines: only the source keyword matches.
        let mr = ctx("merge_request_event", "feature/x", false);
        assert!(ref_matches("merge_requests", &mr));
        assert!(!ref_matches("branches", &mr) && !ref_matches("feature/x", &mr) && !ref_matches("/feature/", &mr));
        let sched = ctx("schedule", "main", false);
        assert!(ref_matches("schedules", &sched) && ref_matches("branches", &sched));
    }
}
