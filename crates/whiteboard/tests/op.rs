//! The wire format of operations and its validation.

mod common;

use whiteboard::op::{DEFAULT_PAGE, ElementId, LoggedOp, Op, OpError, OpKind, Problem, parse_ops};

/// One wire example per operation, as documented.
const EXAMPLES: &[&str] = &[
    r##"{"op":"stroke","id":"s1","points":[[0.1,0.2],[0.15,0.22],[0.2,0.3]],"color":"#E02020","width":0.004,"tool":"pen","page":"#DEFAULT","ts":1700000000000}"##,
    r##"{"op":"stroke","id":"h1","points":[[0.1,0.5],[0.6,0.5]],"color":"#FFD700","width":0.03,"tool":"highlighter"}"##,
    r##"{"op":"shape","id":"r1","kind":"rect","from":[0.1,0.1],"to":[0.4,0.3],"color":"#1F3A93","width":0.003,"fill":"#F5A62380"}"##,
    r##"{"op":"shape","id":"a1","kind":"arrow","from":[0.5,0.5],"to":[0.8,0.4],"color":"#000000","width":0.004,"fill":null}"##,
    r##"{"op":"text","id":"t1","at":[0.1,0.6],"text":"Hello\n你好, Ωμέγα","size":0.05,"color":"#202020"}"##,
    r##"{"op":"image","id":"i1","url":"https://example.com/a.png","rect":[0.5,0.1,0.4,0.3]}"##,
    r##"{"op":"erase","ids":["s1","r1"]}"##,
    r##"{"op":"clear","page":"p2"}"##,
    r##"{"op":"background","color":"#FFFFFF"}"##,
    r##"{"op":"background","image":"https://example.com/bg.png"}"##,
    r##"{"op":"page","action":"add","target":"p2"}"##,
    r##"{"op":"page","action":"switch","target":"p2"}"##,
    r##"{"op":"page","action":"delete","target":"p2"}"##,
    r##"{"op":"mark"}"##,
    r##"{"op":"undo"}"##,
    r##"{"op":"redo"}"##,
];

#[test]
fn every_documented_example_parses_validates_and_round_trips() {
    for json in EXAMPLES {
        let op = Op::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        let again: Op = serde_json::from_str(&serde_json::to_string(&op).unwrap()).unwrap();
        assert_eq!(op, again, "{json}");
    }
}

#[test]
fn page_is_optional_and_defaults_to_default_page() {
    let op = Op::from_json(r#"{"op":"clear"}"#).unwrap();
    assert_eq!(op.page, None);
    assert_eq!(op.page_or_default().as_str(), DEFAULT_PAGE);
    assert_eq!(op.kind, OpKind::Clear);
}

#[test]
fn tool_defaults_to_pen_and_fill_to_none() {
    let op = Op::from_json(r##"{"op":"stroke","id":"s","points":[[0,0]],"color":"#000000","width":0.1}"##).unwrap();
    let OpKind::Stroke(s) = op.kind else { panic!() };
    assert_eq!(s.tool, whiteboard::op::Tool::Pen);
}

#[test]
fn logged_op_carries_server_stamps_beside_the_op() {
    let json = r#"{"seq":7,"user_id":"alice","received_at_ms":1700000000123,"op":"mark","page":"p2"}"#;
    let logged: LoggedOp = serde_json::from_str(json).unwrap();
    assert_eq!((logged.seq, logged.user_id.as_str(), logged.received_at_ms), (7, "alice", 1_700_000_000_123));
    assert_eq!(logged.op.page.as_ref().map(|p| p.as_str()), Some("p2"));
    let back: serde_json::Value = serde_json::to_value(&logged).unwrap();
    assert_eq!(back, serde_json::from_str::<serde_json::Value>(json).unwrap());
}

fn invalid(json: &str) -> (String, Problem) {
    match Op::from_json(json) {
        Err(OpError::Invalid(e)) => (e.field, e.problem),
        other => panic!("{json}: expected a validation error, got {other:?}"),
    }
}

fn json_error(json: &str) -> String {
    match Op::from_json(json) {
        Err(OpError::Json(e)) => e.to_string(),
        other => panic!("{json}: expected a JSON error, got {other:?}"),
    }
}

#[test]
fn coordinate_out_of_range_names_the_point_and_axis() {
    let (field, problem) =
        invalid(r##"{"op":"stroke","id":"s","points":[[0,0],[0.5,1.5]],"color":"#000000","width":0.1}"##);
    assert_eq!(field, "points[1][1]");
    assert_eq!(problem, Problem::OutOfRange { value: 1.5, range: "0..=1" });
}

#[test]
fn zero_width_is_rejected() {
    let (field, _) =
        invalid(r##"{"op":"shape","id":"l","kind":"line","from":[0,0],"to":[1,1],"color":"#000000","width":0}"##);
    assert_eq!(field, "width");
}

#[test]
fn empty_points_text_and_ids_are_rejected() {
    assert_eq!(invalid(r##"{"op":"stroke","id":"s","points":[],"color":"#000000","width":0.1}"##).0, "points");
    assert_eq!(invalid(r##"{"op":"text","id":"t","at":[0,0],"text":"","size":0.1,"color":"#000000"}"##).0, "text");
    assert_eq!(invalid(r#"{"op":"erase","ids":["a",""]}"#).0, "ids[1]");
    assert_eq!(invalid(r#"{"op":"mark","page":""}"#).0, "page");
}

#[test]
fn overlong_id_is_rejected() {
    let json = format!(r#"{{"op":"erase","ids":["{}"]}}"#, "x".repeat(129));
    assert_eq!(invalid(&json), ("ids[0]".to_owned(), Problem::TooLong { max: 128 }));
}

#[test]
fn bad_colour_message_quotes_the_value() {
    let msg = json_error(r##"{"op":"background","color":"red"}"##);
    assert!(msg.contains(r#"invalid colour "red""#), "{msg}");
}

#[test]
fn background_needs_exactly_one_of_colour_or_image() {
    let msg = json_error(r##"{"op":"background","color":"#000000","image":"https://x/y.png"}"##);
    assert!(msg.contains("exactly one of `color` or `image`"), "{msg}");
}

#[test]
fn missing_field_and_unknown_op_are_named() {
    assert!(
        json_error(r#"{"op":"shape","id":"s","kind":"rect","from":[0,0],"to":[1,1],"width":0.1}"#).contains("`color`")
    );
    assert!(json_error(r#"{"op":"scribble"}"#).contains("unknown variant `scribble`"));
}

#[test]
fn parse_ops_accepts_one_or_many_and_prefixes_array_errors() {
    assert_eq!(parse_ops(r#"{"op":"undo"}"#).unwrap().len(), 1);
    assert_eq!(parse_ops(r#" [{"op":"undo"},{"op":"redo"}]"#).unwrap().len(), 2);
    match parse_ops(r#"[{"op":"undo"},{"op":"page","action":"add","target":""}]"#) {
        Err(OpError::Invalid(e)) => assert_eq!(e.to_string(), "[1].target: must not be empty"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn element_ids_of_every_size_and_script_keep_their_json_form() {
    for id in common::edge_ids() {
        // An id is a plain JSON string, as the `String` it was.
        let text = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::to_string(&ElementId::new(&id)).unwrap(), text);
        let stroke = format!(r##"{{"op":"stroke","id":{text},"points":[[0.1,0.2]],"color":"#E02020","width":0.004}}"##);
        let erase = format!(r#"{{"seq":3,"user_id":"u","received_at_ms":7,"op":"erase","ids":[{text},"b",{text}]}}"#);
        let op: Op = serde_json::from_str(&stroke).unwrap();
        let OpKind::Stroke(s) = &op.kind else { panic!("{stroke}") };
        assert_eq!(s.id.as_str(), id);
        let value = serde_json::to_value(&op).unwrap();
        assert_eq!(value["id"], serde_json::Value::String(id.clone()));
        // Borrowed, owned (from a reader or a value) and escaped strings all read back.
        assert_eq!(serde_json::from_reader::<_, Op>(stroke.as_bytes()).unwrap(), op);
        assert_eq!(serde_json::from_value::<Op>(value).unwrap(), op);
        let escaped = stroke
            .replace(&text, &format!("\"{}\"", id.chars().map(|c| format!("\\u{:04x}", c as u32)).collect::<String>()));
        if id.chars().all(|c| (c as u32) < 0x10000) {
            assert_eq!(serde_json::from_str::<Op>(&escaped).unwrap(), op, "{escaped}");
        }
        let logged: LoggedOp = serde_json::from_str(&erase).unwrap();
        assert_eq!(
            logged.op.kind,
            OpKind::Erase { ids: vec![ElementId::new(&id), ElementId::new("b"), ElementId::new(&id)] }
        );
        assert_eq!(serde_json::to_value(&logged).unwrap(), serde_json::from_str::<serde_json::Value>(&erase).unwrap());
    }
    assert!(serde_json::from_str::<ElementId>("7").is_err(), "a number is no id, as before");
}
