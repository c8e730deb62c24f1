//! The signing vectors of protocol.md §13, captured from the official SDKs and Tencent's docs.

use tcapi::sign::*;

const SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
const TS: i64 = 1_700_000_000;

fn headers<'a>(content_type: &'a str, host: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("content-type", content_type), ("host", host)]
}

fn tc3(method: &str, query: &str, headers: &[(&str, &str)], body: &[u8], service: &str, ts: i64) -> (String, String) {
    let canonical =
        tc3_canonical_request(&Tc3CanonicalInput { method, query, headers, payload_hash: &sha256_hex(body) });
    let date = utc_date(ts);
    let signature = tc3_signature(SECRET_KEY, &date, service, &tc3_string_to_sign(ts, &date, service, &canonical));
    (sha256_hex(canonical.as_bytes()), signature)
}

#[test]
fn official_tc3_example_signature() {
    let body = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    assert_eq!(sha256_hex(body.as_bytes()), "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064");
    let (hashed, signature) = tc3(
        "POST",
        "",
        &headers("application/json; charset=utf-8", "cvm.tencentcloudapi.com"),
        body.as_bytes(),
        "cvm",
        1_551_113_065,
    );
    assert_eq!(hashed, "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031");
    assert_eq!(signature, "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
}

#[test]
fn official_tc3_example_with_signed_action_header() {
    let body = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    let mut signed = headers("application/json; charset=utf-8", "cvm.tencentcloudapi.com");
    signed.push(("x-tc-action", "describeinstances"));
    let (_, signature) = tc3("POST", "", &signed, body.as_bytes(), "cvm", 1_551_113_065);
    assert_eq!(signature, "644be983de9a8a3f00db8eadaba61467c3b429e2215758ba897b738ca469fd26");
}

#[test]
fn python_sdk_post_tc3() {
    let body = br#"{"TaskID": "f2e1728c-6e87-4481-abe1-cde8542a5a10", "SdkAppId": 1400127230}"#;
    let (_, signature) = tc3("POST", "", &headers("application/json", "127.0.0.1:18080"), body, "tiw", TS);
    assert_eq!(signature, "cb90c7dd6924863c23aef9daffeb6a1cdc7c7d5f8ff13797b6af5dfe6415246a");
}

#[test]
fn python_sdk_get_tc3_uses_the_raw_query() {
    let (hashed, signature) = tc3(
        "GET",
        "Filters.0.Values.0=21&Filters.0.Name=task-id",
        &headers("application/x-www-form-urlencoded", "127.0.0.1:18080"),
        b"",
        "ecm",
        TS,
    );
    assert_eq!(hashed, "f1badcc527b5f6c8dd4e3cf7292b0b45ecaae6a935dda722f81a8c99b2c65c5e");
    assert_eq!(signature, "850b15be049c437461847956d22765f2c652672458f7a9c827dc27ed9d4079b4");
}

#[test]
fn python_sdk_tc3_with_token_nested_and_non_ascii() {
    let body = br#"{"Whiteboard": {"Width": 1280, "Height": 720, "InitParams": "{\"ratio\":\"16:9\"}"}, "SdkAppId": 1400123480, "RoomId": 12345, "CallbackURL": "http://127.0.0.1:9/cb?a=1&b=\u767d\u677f", "SnapshotMode": "AllMarks"}"#;
    assert_eq!(sha256_hex(body), "839af94033a0dd65d30fb4a5b727c010c559ec1e98b58fc9b59f615fd2e73b4b");
    let (_, signature) = tc3("POST", "", &headers("application/json", "127.0.0.1:18080"), body, "tiw", TS);
    assert_eq!(signature, "f66d8908b4d98e1873c1feef78499c55360d95dff6d967e2af9ced8d6736d17c");
}

#[test]
fn python_sdk_get_tc3_with_encoded_query() {
    let query = "Whiteboard.Width=1280&Whiteboard.Height=720&Whiteboard.InitParams=%7B%22ratio%22%3A%2216%3A9%22%7D&SdkAppId=1400123480&RoomId=12345&CallbackURL=http%3A%2F%2F127.0.0.1%3A9%2Fcb%3Fa%3D1%26b%3D%E7%99%BD%E6%9D%BF&SnapshotMode=AllMarks";
    let (_, signature) =
        tc3("GET", query, &headers("application/x-www-form-urlencoded", "127.0.0.1:18080"), b"", "tiw", TS);
    assert_eq!(signature, "14f0d8f8467b762d2e2f4c88ad46d6cf0dbb9f11d1601f6defb9593704696fda");
}

#[test]
fn tccli_signs_the_host_with_its_scheme() {
    let body = br#"{"TaskID": "f2e1728c-6e87-4481-abe1-cde8542a5a10", "SdkAppId": 1400127230}"#;
    let (hashed, signature) = tc3("POST", "", &headers("application/json", "http://127.0.0.1:18080"), body, "tiw", TS);
    assert_eq!(hashed, "41b1a74759d66b4e9abdf65a90e6b2d28446d3801840511c552d8df61ac7a595");
    assert_eq!(signature, "a139f364533f316b74bacde048484f47473f768928c1f80a7e157aa8e95fc7a4");
}

#[test]
fn node_sdk_signs_host_without_port_and_first_label_service() {
    let body = br#"{"TaskID":"f2e1728c-6e87-4481-abe1-cde8542a5a10","SdkAppId":1400127230}"#;
    assert_eq!(sha256_hex(body), "5c32dbe80e76255528ce99f89582f99f4322efc850dbc11beb0c530a92b2a4a4");
    let (hashed, signature) = tc3("POST", "", &headers("application/json", "127.0.0.1"), body, "127", TS);
    assert_eq!(hashed, "20f1ab1689ebd84ce7f3f83e62131c7215b1af25ae83897a4a96949248df6e5e");
    assert_eq!(signature, "4ba58c7792208353695868bbbcd0cd6fd398f6867913f8578b80b9fb3bf421ba");
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn official_v1_hmac_sha1_example() {
    let params = pairs(&[
        ("Action", "DescribeInstances"),
        ("InstanceIds.0", "ins-09dx96dg"),
        ("Limit", "20"),
        ("Nonce", "11886"),
        ("Offset", "0"),
        ("Region", "ap-guangzhou"),
        ("SecretId", SECRET_ID),
        ("Timestamp", "1465185768"),
        ("Version", "2017-03-12"),
    ]);
    let s = v1_string_to_sign("GET", "cvm.tencentcloudapi.com", &params);
    assert_eq!(v1_signature(V1Method::HmacSha1, SECRET_KEY, &s), "EliP9YW3pW28FpsEdkXt/+WcGeI=");
}

#[test]
fn python_sdk_get_hmac_sha256() {
    let params = pairs(&[
        ("Filters.0.Values.0", "21"),
        ("Filters.0.Name", "task-id"),
        ("Action", "DescribeCustomImageTask"),
        ("RequestClient", "SDK_PYTHON_3.1.105"),
        ("Nonce", "1234567890"),
        ("Timestamp", "1700000000"),
        ("Version", "2019-07-19"),
        ("SecretId", SECRET_ID),
        ("SignatureMethod", "HmacSHA256"),
        ("Language", "zh-CN"),
        ("Signature", "ignored"),
    ]);
    let s = v1_string_to_sign("GET", "127.0.0.1:18080", &params);
    assert_eq!(
        s,
        "GET127.0.0.1:18080/?Action=DescribeCustomImageTask&Filters.0.Name=task-id&Filters.0.Values.0=21&Language=zh-CN&Nonce=1234567890&RequestClient=SDK_PYTHON_3.1.105&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA256&Timestamp=1700000000&Version=2019-07-19"
    );
    assert_eq!(v1_signature(V1Method::HmacSha256, SECRET_KEY, &s), "ISrIwCzflKkc2eNDRbevFTazNM7QxDrUlJTTw2JyAls=");
}

#[test]
fn python_sdk_post_hmac_sha1() {
    let params = pairs(&[
        ("TaskID", "f2e1728c-6e87-4481-abe1-cde8542a5a10"),
        ("SdkAppId", "1400127230"),
        ("Action", "DescribeSnapshotTask"),
        ("RequestClient", "SDK_PYTHON_3.1.105"),
        ("Nonce", "1234567890"),
        ("Timestamp", "1700000000"),
        ("Version", "2019-09-19"),
        ("Region", "ap-singapore"),
        ("SecretId", SECRET_ID),
        ("SignatureMethod", "HmacSHA1"),
        ("Language", "zh-CN"),
    ]);
    let s = v1_string_to_sign("POST", "127.0.0.1:18080", &params);
    assert_eq!(v1_signature(V1Method::HmacSha1, SECRET_KEY, &s), "ujJ59JB7mdzTyEI5sts/P7u0nQQ=");
}

#[test]
fn authorization_header_round_trips() {
    let header = "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2023-11-14/tiw/tc3_request, SignedHeaders=content-type;host, Signature=cb90c7dd6924863c23aef9daffeb6a1cdc7c7d5f8ff13797b6af5dfe6415246a";
    let parsed = Tc3Authorization::parse(header).unwrap();
    assert_eq!(parsed.secret_id, SECRET_ID);
    assert_eq!(parsed.service, "tiw");
    assert_eq!(parsed.date, "2023-11-14");
    assert_eq!(parsed.to_header(), header);
}

#[test]
fn java_style_service_with_port_parses() {
    let header = "TC3-HMAC-SHA256 Credential=AKID/2023-11-14/localhost:8080/tc3_request, SignedHeaders=content-type;host, Signature=cb90c7dd6924863c23aef9daffeb6a1cdc7c7d5f8ff13797b6af5dfe6415246a";
    assert_eq!(Tc3Authorization::parse(header).unwrap().service, "localhost:8080");
}

#[test]
fn malformed_authorization_headers_are_rejected() {
    let sig = "cb90c7dd6924863c23aef9daffeb6a1cdc7c7d5f8ff13797b6af5dfe6415246a";
    let cases = [
        format!(
            "HMAC-SHA1 Credential=AKID/2023-11-14/tiw/tc3_request, SignedHeaders=content-type;host, Signature={sig}"
        ),
        format!("TC3-HMAC-SHA256 Credential=AKID/2023-11-14/tiw, SignedHeaders=content-type;host, Signature={sig}"),
        format!(
            "TC3-HMAC-SHA256 Credential=AKID/20231114/tiw/tc3_request, SignedHeaders=content-type;host, Signature={sig}"
        ),
        format!("TC3-HMAC-SHA256 Credential=AKID/2023-11-14/tiw/tc3_request, SignedHeaders=host, Signature={sig}"),
        "TC3-HMAC-SHA256 Credential=AKID/2023-11-14/tiw/tc3_request, SignedHeaders=content-type;host, Signature=xyz"
            .into(),
        "TC3-HMAC-SHA256 Credential=AKID/2023-11-14/tiw/tc3_request, SignedHeaders=content-type;host".into(),
        "SKIP".into(),
    ];
    for header in cases {
        assert!(Tc3Authorization::parse(&header).is_err(), "{header}");
    }
}

#[test]
fn utc_date_of_timestamps() {
    assert_eq!(utc_date(1_700_000_000), "2023-11-14");
    assert_eq!(utc_date(1_551_113_065), "2019-02-25");
    assert_eq!(utc_date(0), "1970-01-01");
    assert_eq!(utc_date(951_782_400), "2000-02-29");
}

#[test]
fn signer_produces_a_verifiable_header() {
    let signer = Tc3Signer { secret_id: SECRET_ID, secret_key: SECRET_KEY, service: "tiw" };
    let body = br#"{"TaskID": "f2e1728c-6e87-4481-abe1-cde8542a5a10", "SdkAppId": 1400127230}"#;
    let header = signer.authorization("POST", "127.0.0.1:18080", "application/json", "", body, TS);
    assert!(header.ends_with("Signature=cb90c7dd6924863c23aef9daffeb6a1cdc7c7d5f8ff13797b6af5dfe6415246a"));
}
