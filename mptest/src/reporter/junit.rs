//! JUnit XML, valid for the Jenkins xunit plugin's `junit-10.xsd` (the self-tests check it with
//! `xmllint --schema`): one `testsuite` for this binary, a `testcase` per test with its
//! time; a failure's kind (`failed`, `crashed`, `timed-out`) as its `type` and its explanation
//! as `message`; `system-out` with the output of every process of the test; failed attempts of
//! a retried test as `flakyFailure`/`flakyError` (it passed in the end) or
//! `rerunFailure`/`rerunError` (it did not); tests a cut-short run never got to as errors of
//! type `not-run`. Fixture setups and teardowns are the suite's `<property>` elements, their
//! output its `<system-out>`: not test cases, which dashboards count as tests (a failed
//! teardown is also an `<error>` case: no test's result shows it). A test's log records are in
//! its `system-out`, as printed; in `system-err` only when nothing was captured. Processes a
//! test left running are named in its `system-err`. Written when the run ends — also an
//! interrupted one.
//!
//! Where quick-junit (nextest's writer) and the schema part, this follows the schema: no
//! `skipped`, `uuid` or `timestamp` on `<testsuites>` (the counts are on `<testsuite>`), no
//! `time` on a rerun element (the attempt's time is in its `message`), no `<properties>` in a
//! `<testcase>`.
//!
//! Written here, not with quick-junit: an XML writer for these few elements is short, and
//! quick-junit brought ten crates (chrono, uuid, indexmap, quick-xml, ...) into every user's build.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{Event, Outcome, Reporter, TestResult};

/// Collects the run's results and writes them to `path` (stdout when `None`: libtest's
/// `--format junit`) at its end.
pub(crate) struct Junit {
    path: Option<PathBuf>,
    suite_name: String,
    /// The `<testcase>` elements so far, as text.
    cases: String,
    counts: Counts,
    /// Failed attempts of tests still being retried, by name (their elements, as text).
    reruns: HashMap<String, Vec<Attempt>>,
    /// Fixture setups and teardowns, as the suite's `<property>` elements (text).
    fixture_properties: String,
    /// What fixtures printed, for the suite's `<system-out>`.
    fixture_output: String,
    /// How often each property name was used: a repeat gets `#2`, `#3`, ... (readers such as
    /// xunitparser refuse two properties of one name; a worker fixture is set up per worker).
    property_names: HashMap<String, usize>,
}

#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

/// A failed attempt of a test that was retried.
struct Attempt {
    kind: &'static str,
    message: String,
    time: Duration,
    out: String,
    logs: String,
}

impl Junit {
    pub(crate) fn new(path: Option<PathBuf>, suite_name: &str) -> Self {
        Junit {
            path,
            suite_name: suite_name.to_string(),
            cases: String::new(),
            counts: Counts::default(),
            reruns: HashMap::new(),
            fixture_properties: String::new(),
            fixture_output: String::new(),
            property_names: HashMap::new(),
        }
    }

    /// The test's `system-out` and `system-err`: its output, where its log records already
    /// are (printed as they came); the records apart only when there is no output to hold them
    /// (`--nocapture`). Each record once.
    fn output(result: &TestResult) -> (String, String) {
        match &result.output {
            Some(output) => (output.to_text(), String::new()),
            None => (String::new(), result.logs.iter().map(|r| format!("{r}\n")).collect()),
        }
    }

    /// The test's assertion failed: a failure. It crashed, hung or did not run: an error.
    fn failure_element(outcome: &Outcome) -> &'static str {
        match outcome {
            Outcome::Failed { .. } => "failure",
            _ => "error",
        }
    }

    fn finished(&mut self, result: &TestResult) {
        let reruns = self.reruns.remove(&result.name).unwrap_or_default();
        let mut body = String::new();
        // Surefire's names, which junit-10.xsd has: `flaky…` for attempts of a test that passed
        // in the end, `rerun…` otherwise.
        let rerun_prefix = match &result.outcome {
            Outcome::Passed | Outcome::Flaky { .. } => "flaky",
            Outcome::Ignored { reason } => {
                self.counts.skipped += 1;
                let message = reason.as_deref().map(|r| ("message", r));
                element(&mut body, "skipped", message.as_slice(), None);
                "rerun"
            }
            outcome => {
                let name = Self::failure_element(outcome);
                match name {
                    "failure" => self.counts.failures += 1,
                    _ => self.counts.errors += 1,
                }
                let message = outcome.explanation().unwrap_or_default();
                element(&mut body, name, &[("message", &message), ("type", outcome.kind())], None);
                "rerun"
            }
        };
        for attempt in &reruns {
            let mut inner = String::new();
            element(&mut inner, "system-out", &[], Some(&attempt.out));
            element(&mut inner, "system-err", &[], Some(&attempt.logs));
            // An assertion that failed is a `…Failure`, a crash or a hang an `…Error`. No `time`
            // (quick-junit writes one; the schema has none): the attempt's time is in its words.
            let kind = if attempt.kind == "failed" { "Failure" } else { "Error" };
            let message = format!("{} (attempt took {}s)", attempt.message, seconds(attempt.time));
            element_raw(
                &mut body,
                &format!("{rerun_prefix}{kind}"),
                &[("message", &message), ("type", attempt.kind)],
                &inner,
            );
        }
        let (out, mut err) = Self::output(result);
        if !result.leftovers.is_empty() {
            // In `system-err`, not as a test case's `<properties>`: the schema has none there.
            let _ = writeln!(err, "mptest: left running at the test's end, ended: {}", result.leftovers.join(", "));
        }
        if !out.is_empty() {
            element(&mut body, "system-out", &[], Some(&out));
        }
        if !err.is_empty() {
            element(&mut body, "system-err", &[], Some(&err));
        }
        let suite = self.suite_name.clone();
        self.case(&result.name, &suite, result.duration, &body);
    }

    /// A fixture's setup or teardown: a `<property>` of the suite (`mptest.fixture.setup.<name>`,
    /// its value scope, process, time and outcome), its output in the suite's `<system-out>` —
    /// not a `<testcase>`, which dashboards would count as a test. A failed teardown, which no
    /// test's result shows, is also an `<error>` test case, so the report is not green for a
    /// run that failed. (A failed setup fails the tests that need it.)
    fn fixture(&mut self, event: &crate::fixtures::FixtureEvent, process: &str) {
        let phase = match event.phase {
            crate::fixtures::Phase::Setup => "setup",
            crate::fixtures::Phase::Teardown => "teardown",
        };
        let outcome = match &event.failure {
            None => "ok".to_string(),
            Some(failure) => format!("failed: {failure}"),
        };
        let value = format!(
            "{} scope, in {process}, {}s, {outcome}",
            event.scope.as_str(),
            seconds(Duration::from_nanos(event.duration_ns))
        );
        let mut name = format!("mptest.fixture.{phase}.{}", event.fixture);
        let uses = self.property_names.entry(name.clone()).or_insert(0);
        *uses += 1;
        if *uses > 1 {
            name = format!("{name}#{uses}");
        }
        element(&mut self.fixture_properties, "property", &[("name", &name), ("value", &value)], None);
        if !event.output.is_empty() {
            let _ = writeln!(self.fixture_output, "---- fixture {} {phase} ({process}) ----", event.fixture);
            self.fixture_output.push_str(&event.output);
            if !event.output.ends_with('\n') {
                self.fixture_output.push('\n');
            }
        }
        if let (crate::fixtures::Phase::Teardown, Some(failure)) = (event.phase, &event.failure) {
            self.counts.errors += 1;
            let mut body = String::new();
            element(&mut body, "error", &[("message", failure), ("type", "fixture-teardown")], None);
            if !event.output.is_empty() {
                element(&mut body, "system-out", &[], Some(&event.output));
            }
            let name = format!("fixture::teardown::{}", event.fixture);
            let classname = format!("{}::fixtures", self.suite_name);
            self.case(&name, &classname, Duration::from_nanos(event.duration_ns), &body);
        }
    }

    /// Tests the run never got to (interrupted, or no worker could be started): errors, so a
    /// report reader sees the run was not whole and which tests it lacks.
    fn not_run(&mut self, summary: &super::Summary) {
        let why = summary.fatal.as_deref().unwrap_or("the run ended early");
        let message = format!("did not run: {why}");
        for name in &summary.not_run {
            self.counts.errors += 1;
            let mut body = String::new();
            element(&mut body, "error", &[("message", &message), ("type", "not-run")], None);
            let suite = self.suite_name.clone();
            self.case(name, &suite, Duration::ZERO, &body);
        }
    }

    fn case(&mut self, name: &str, classname: &str, time: Duration, body: &str) {
        self.counts.tests += 1;
        let time = seconds(time);
        let attributes = [("name", name), ("classname", classname), ("time", time.as_str())];
        self.cases.push_str("\n        ");
        element_raw(&mut self.cases, "testcase", &attributes, body);
    }

    fn document(&self, duration: Duration) -> String {
        let c = &self.counts;
        let time = seconds(duration);
        let (tests, failures, errors, skipped) = (
            c.tests.to_string(),
            c.failures.to_string(),
            c.errors.to_string(),
            c.skipped.to_string(),
        );
        let (tests, skipped, failures, errors, time) = (
            ("tests", tests.as_str()),
            ("skipped", skipped.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("time", time.as_str()),
        );
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
        // The schema has no `skipped` on `<testsuites>` (quick-junit writes none there either).
        attributes(&mut xml, &[("name", "mptest"), tests, failures, errors, time]);
        xml.push_str(">\n    <testsuite");
        let suite = [("name", self.suite_name.as_str()), tests, skipped, failures, errors, time];
        attributes(&mut xml, &suite);
        xml.push('>');
        // The schema's order: properties, test cases, system-out.
        if !self.fixture_properties.is_empty() {
            xml.push_str("\n        ");
            element_raw(&mut xml, "properties", &[], &self.fixture_properties);
        }
        xml.push_str(&self.cases);
        if !self.fixture_output.is_empty() {
            xml.push_str("\n        ");
            element(&mut xml, "system-out", &[], Some(&self.fixture_output));
        }
        xml.push_str("\n    </testsuite>\n</testsuites>\n");
        xml
    }

    fn write(&mut self, duration: Duration) {
        let xml = self.document(duration);
        let written = match &self.path {
            Some(path) => std::fs::write(path, xml),
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(xml.as_bytes()).and_then(|()| out.flush())
            }
        };
        if let Err(err) = written {
            let place = self
                .path
                .as_ref()
                .map_or("to stdout".into(), |p| p.display().to_string());
            eprintln!("mptest: cannot write the JUnit report {place}: {err}");
        }
    }
}

/// Seconds with millisecond precision, as JUnit readers expect.
fn seconds(time: Duration) -> String {
    format!("{:.3}", time.as_secs_f64())
}

/// `<name attributes/>`, or `<name attributes>text</name>` with `text` escaped.
fn element(xml: &mut String, name: &str, attrs: &[(&str, &str)], text: Option<&str>) {
    match text {
        None => {
            xml.push('<');
            xml.push_str(name);
            attributes(xml, attrs);
            xml.push_str("/>");
        }
        Some(text) => element_raw(xml, name, attrs, &escape(text, false)),
    }
}

/// `<name attributes>inner</name>` with `inner` already XML.
fn element_raw(xml: &mut String, name: &str, attrs: &[(&str, &str)], inner: &str) {
    let _ = write!(xml, "<{name}");
    attributes(xml, attrs);
    let _ = write!(xml, ">{inner}</{name}>");
}

fn attributes(xml: &mut String, attrs: &[(&str, &str)]) {
    for (name, value) in attrs {
        let _ = write!(xml, " {name}=\"{}\"", escape(value, true));
    }
}

/// Text as XML 1.0 takes it: markup characters escaped (and newlines too, in an attribute),
/// terminal colour sequences dropped, and characters XML forbids (other control characters)
/// written as `\u{..}`.
fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // An ANSI escape sequence: ESC [ parameters final-byte.
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' if attribute => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\r' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

impl Reporter for Junit {
    fn report(&mut self, event: &Event<'_>) {
        match event {
            Event::TestRetrying { result, .. } => {
                let (out, logs) = Self::output(result);
                self.reruns.entry(result.name.clone()).or_default().push(Attempt {
                    kind: result.outcome.kind(),
                    message: result.outcome.explanation().unwrap_or_default(),
                    time: result.duration,
                    out,
                    logs,
                });
            }
            Event::TestFinished { result } => self.finished(result),
            Event::Fixture { event, process } => self.fixture(event, process),
            Event::RunFinished { summary } => {
                self.not_run(summary);
                self.write(summary.duration)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_control_characters_and_colours() {
        assert_eq!(escape("a<b>&\"c\"\n", false), "a&lt;b&gt;&amp;\"c\"\n");
        assert_eq!(escape("a\"b\nc", true), "a&quot;b&#10;c");
        assert_eq!(escape("\u{1b}[31mred\u{1b}[0m \u{7}", false), "red \\u{7}");
    }

    #[test]
    fn counts_and_cases_make_a_document() {
        let mut junit = Junit::new(None, "suite");
        junit.case("a::b", "suite", Duration::from_millis(1500), "");
        junit.counts.failures = 1;
        let xml = junit.document(Duration::from_secs(2));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mptest\" tests=\"1\" failures=\"1\" errors=\"0\" time=\"2.000\">\n    <testsuite name=\"suite\" tests=\"1\" skipped=\"0\" failures=\"1\" errors=\"0\" time=\"2.000\">"), "{xml}");
        assert!(xml.contains("<testcase name=\"a::b\" classname=\"suite\" time=\"1.500\"></testcase>"), "{xml}");
        assert!(xml.ends_with("</testsuite>\n</testsuites>\n"), "{xml}");
    }
}
