//! REQ-IA-001, REQ-IA-002: the `CloudFormation` template gives the function
//! exactly the environment variables the code reads, and the schedule's input
//! is a valid run request.

use std::collections::BTreeSet;

use author_stats_batch::config::ENV_VARS;
use author_stats_batch::request::RunRequest;

use crate::common::repo;

fn template() -> String {
    std::fs::read_to_string(repo().join("cloudformation/author-stats-batch.yaml")).unwrap()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The keys of the mapping under `Environment:` / `Variables:` of the function.
fn environment_variables(text: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "Variables:")
        .expect("the function has Environment.Variables");
    let base = indent(lines[start]);
    lines[start + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) > base)
        .filter(|l| indent(l) == base + 2)
        .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.to_string()))
        .collect()
}

// REQ-IA-001
#[test]
fn template_sets_exactly_the_variables_the_code_reads() {
    let text = template();
    assert_eq!(
        text.matches("Variables:").count(),
        1,
        "one function environment expected"
    );
    let in_template = environment_variables(&text);
    let in_code: BTreeSet<String> = ENV_VARS
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    assert_eq!(in_template, in_code);
}

// REQ-IA-002
#[test]
fn schedule_input_is_a_valid_run_request() {
    let text = template();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Input: !Sub"))
        .expect("the schedule target has an Input");
    let body = line.split_once("!Sub").unwrap().1.trim().trim_matches('\'');
    let default_lookback = text
        .split("LookbackDays:")
        .nth(1)
        .and_then(|s| s.lines().find(|l| l.trim_start().starts_with("Default:")))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
        .expect("LookbackDays has a default");
    // What EventBridge Scheduler sends once it fills in the placeholders.
    let sent = body
        .replace("${LookbackDays}", &default_lookback)
        .replace("<aws.scheduler.scheduled-time>", "2025-11-25T17:45:00Z");
    let plan = RunRequest::from_json(&sent)
        .and_then(|r| r.resolve(chrono::Utc::now()))
        .unwrap_or_else(|e| panic!("{sent}: {e}"));
    assert_eq!(plan.lookback_days, 7);
    assert_eq!(plan.as_of.to_rfc3339(), "2025-11-25T17:45:00+00:00");
    let nightly = std::fs::read_to_string(repo().join("events/nightly.json")).unwrap();
    let nightly: serde_json::Value = serde_json::from_str(&nightly).unwrap();
    let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
    assert_eq!(
        sent, nightly,
        "events/nightly.json is what the schedule sends"
    );
}

// REQ-OP-004: the dashboard body is valid JSON once CloudFormation has filled in
// its references, and shows the run metrics of every window, Lambda, both
// dead-letter queues and CloudFront.
#[test]
fn dashboard_body_is_json_with_every_widget() {
    let text = template();
    let start = text
        .find("      DashboardBody: !Sub\n        - |\n")
        .expect("the dashboard body");
    let body: String = text[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("          "))
        .flat_map(|l| [&l[10..], "\n"])
        .collect();
    let mut filled = String::new();
    let mut rest = body.as_str();
    while let Some(i) = rest.find("${") {
        filled.push_str(&rest[..i]);
        let end = rest[i..].find('}').expect("a closed reference") + i;
        filled.push_str("REF");
        rest = &rest[end + 1..];
    }
    filled.push_str(rest);
    let dashboard: serde_json::Value = serde_json::from_str(&filled)
        .unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{filled}"));
    let all = dashboard.to_string();
    for needle in [
        "\"AuthorStats\",\"RunSucceeded\",\"Window\",\"nightly\"",
        "\"backfill\"",
        "\"manual\"",
        "ChartsFailed",
        "AuthorsUndone",
        "\"AWS/Lambda\",\"Duration\"",
        "\"AWS/Lambda\",\"Errors\"",
        "ApproximateNumberOfMessagesVisible",
        "\"AWS/CloudFront\",\"Requests\"",
        "5xxErrorRate",
    ] {
        assert!(all.contains(needle), "{needle} not on the dashboard");
    }
    assert_eq!(dashboard["widgets"].as_array().unwrap().len(), 6);
}

// REQ-CF-001: the configuration doc lists every setting with its variable and its
// flag, as the code names them.
#[test]
fn configuration_doc_names_every_setting() {
    let doc = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    for setting in author_stats_batch::config::SETTINGS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", setting.env)))
            .unwrap_or_else(|| panic!("{} has no row in docs/configuration.md", setting.env));
        assert!(
            row.contains(&format!("`{}", setting.flag)),
            "the row of {} does not name {}: {row}",
            setting.env,
            setting.flag
        );
    }
}

// REQ-SC-006: the state machine sends the function the events its modes take:
// the schedule's input plus mode, run_id and shard_authors for the plan; one
// shard of the plan's answer for each render; mode and run_id for the finish.
#[test]
fn state_machine_steps_send_valid_mode_events() {
    let text = template();
    let definition = text
        .split("DefinitionString: !Sub |")
        .nth(1)
        .expect("the scale-out state machine has a DefinitionString");
    for expected in [
        "{'mode': 'plan', 'run_id': $states.context.Execution.Name, 'shard_authors': ${ShardAuthors}}",
        "\"Items\": \"{% $states.input.shards %}\"",
        "\"mode\": \"render\"",
        "\"shard\": \"{% $states.context.Map.Item.Value.shard %}\"",
        "\"mode\": \"finish\", \"run_id\": \"{% $states.context.Execution.Name %}\"",
        "\"ToleratedFailurePercentage\": 0",
        "\"Mode\": \"DISTRIBUTED\"",
    ] {
        assert!(
            definition.contains(expected),
            "the definition lacks {expected}"
        );
    }
    // An execution name as the scheduler makes them, and the events it yields.
    let run_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    let nightly: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("events/nightly.json")).unwrap())
            .unwrap();
    let mut plan = nightly.clone();
    plan["mode"] = "plan".into();
    plan["run_id"] = run_id.into();
    plan["shard_authors"] = 2000.into();
    let events = [
        plan,
        serde_json::json!({"mode": "render", "run_id": run_id, "shard": "00000"}),
        serde_json::json!({"mode": "finish", "run_id": run_id}),
    ];
    for event in events {
        RunRequest::from_value(event.clone())
            .and_then(|r| r.job(chrono::Utc::now()))
            .unwrap_or_else(|e| panic!("{event}: {e}"));
    }
}

/// The lines of the template's resource `name` (its block at indent 2).
fn resource(text: &str, name: &str) -> Option<String> {
    let head = format!("  {name}:");
    let start = text.lines().position(|l| l == head)?;
    let block: Vec<&str> = text
        .lines()
        .skip(start + 1)
        .take_while(|l| l.is_empty() || indent(l) > 2)
        .collect();
    Some(block.join("\n"))
}

// REQ-TR-014: alarms page once per problem: a dead-letter queue's alarm
// counts new messages (not a backlog that would hold it in ALARM and hide
// the next one), throttles that Lambda or the state machine retry do not
// page, and deletions send a notice to the alarm topic.
#[test]
fn alarms_page_once_per_problem() {
    let text = template();
    for queue in ["FunctionFailureQueueAlarm", "SchedulerDeadLetterAlarm"] {
        let alarm = resource(&text, queue).unwrap_or_else(|| panic!("{queue}"));
        assert!(
            alarm.contains("MetricName: NumberOfMessagesSent"),
            "{queue}:\n{alarm}"
        );
        assert!(alarm.contains("Statistic: Sum"), "{queue}:\n{alarm}");
        assert!(
            !alarm.contains("ApproximateNumberOfMessagesVisible"),
            "{queue}"
        );
    }
    let throttles = text
        .lines()
        .filter(|l| l.trim() == "MetricName: Throttles")
        .count();
    assert_eq!(
        throttles, 0,
        "an alarm on Throttles pages on throttles that are retried"
    );
    let deleted = resource(&text, "ChartsDeletedAlarm").expect("ChartsDeletedAlarm");
    for window in ["nightly", "backfill", "manual"] {
        assert!(deleted.contains(&format!("Value: {window}")), "{deleted}");
    }
    assert!(deleted.contains("MetricName: ChartsDeleted"), "{deleted}");
    assert!(
        deleted.contains("AlarmActions: [!Ref AlarmTopic]"),
        "{deleted}"
    );
}

/// The `AllowedPattern` of parameter `name`, as `CloudFormation` applies it
/// (the whole value must match).
fn allowed_pattern(text: &str, name: &str) -> regex::Regex {
    let block = resource(text, name).unwrap_or_else(|| panic!("parameter {name}"));
    let line = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("AllowedPattern: "))
        .unwrap_or_else(|| panic!("{name} has no AllowedPattern"));
    let pattern: String = serde_json::from_str(line).expect("a double-quoted pattern");
    regex::Regex::new(&format!("^(?:{pattern})$")).unwrap()
}

// REQ-IA-003: PostsKey takes what the docs say it takes: one object's key, or
// a parts prefix ending in / (CloudFormation would refuse the stack else).
#[test]
fn posts_key_accepts_a_parts_prefix() {
    let text = template();
    let posts = allowed_pattern(&text, "PostsKey");
    for ok in [
        "contentful/all-blog-posts.jsonl.gz",
        "contentful/parts/",
        "exports/2026/posts/",
        "p",
    ] {
        assert!(posts.is_match(ok), "PostsKey refuses {ok}");
    }
    for bad in ["", "/contentful/all-blog-posts.jsonl.gz", "/"] {
        assert!(!posts.is_match(bad), "PostsKey accepts {bad:?}");
    }
    let authors = allowed_pattern(&text, "AuthorsKey");
    assert!(authors.is_match("contentful/authorProfile.jsonl.gz"));
    assert!(!authors.is_match("contentful/"), "the master is one object");
}

// REQ-IA-004: the function may list its own charts bucket without a prefix
// condition, so S3 answers a missing object 404 (the first run, a new chart)
// instead of 403.
#[test]
fn missing_charts_objects_answer_404() {
    let text = template();
    let function_role = resource(&text, "FunctionRole").expect("FunctionRole");
    let statement: String = function_role
        .split("- Sid: ")
        .find(|s| s.starts_with("MissingObjectsAnswer404"))
        .expect("the MissingObjectsAnswer404 statement")
        .lines()
        .take_while(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(statement.contains("Action: s3:ListBucket"), "{statement}");
    assert!(
        statement.contains("Resource: !GetAtt ChartsBucket.Arn"),
        "{statement}"
    );
    assert!(
        !statement.contains("Condition"),
        "a condition makes missing objects 403:\n{statement}"
    );
}

// REQ-IA-009: the light and dark themes are stack parameters (a JSON object
// each, the documented examples accepted) that reach the function as
// CHART_THEME and CHART_THEME_DARK, where they are validated at start.
#[test]
fn chart_themes_are_stack_parameters() {
    let text = template();
    let function = resource(&text, "Function").expect("Function");
    assert!(
        function.contains("CHART_THEME: !Ref ChartTheme"),
        "{function}"
    );
    assert!(
        function.contains("CHART_THEME_DARK: !Ref ChartThemeDark"),
        "{function}"
    );
    let docs = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    let examples: Vec<&str> = docs
        .lines()
        .filter(|l| l.starts_with("{\"background\""))
        .collect();
    assert_eq!(examples.len(), 2, "a light and a dark example");
    for name in ["ChartTheme", "ChartThemeDark"] {
        let pattern = allowed_pattern(&text, name);
        for ok in ["{}", " {\"bar\": \"#0969da\"}\n"].iter().chain(&examples) {
            assert!(pattern.is_match(ok), "{name} refuses {ok}");
        }
        for bad in ["", "red", "[1]", "\"{}\""] {
            assert!(!pattern.is_match(bad), "{name} accepts {bad:?}");
        }
    }
    let (light, dark) = (examples[0], examples[1]);
    let themes = author_stats_batch::chart::Themes::from_json(Some(light), Some(dark)).unwrap();
    assert_eq!(themes.dark.width, themes.light.width);
    assert!(author_stats_batch::chart::Themes::from_json(None, Some("{\"bar\":\"red\"}")).is_err());
}
