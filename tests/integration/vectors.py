"""The captured requests of protocol.md §13, byte for byte (headers in the captured order).

All were signed for host 127.0.0.1:18080 at timestamp 1700000000 (2023-11-14) with
Tencent's documentation example key.
"""

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
TIMESTAMP = 1700000000
TASK_ID = "f2e1728c-6e87-4481-abe1-cde8542a5a10"
SIGNED_HOST = "127.0.0.1:18080"


def _auth(service: str, signature: str) -> str:
    return (f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2023-11-14/{service}/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={signature}")


# A. POST + TC3, tiw DescribeSnapshotTask
A_BODY = b'{"TaskID": "f2e1728c-6e87-4481-abe1-cde8542a5a10", "SdkAppId": 1400127230}'
A_HEADERS = {
    "X-TC-TraceId": "00000000-0000-4000-8000-000000000000",
    "Content-Type": "application/json",
    "Host": SIGNED_HOST,
    "X-TC-Action": "DescribeSnapshotTask",
    "X-TC-RequestClient": "SDK_PYTHON_3.1.105",
    "X-TC-Timestamp": "1700000000",
    "X-TC-Version": "2019-09-19",
    "X-TC-Region": "ap-singapore",
    "X-TC-Language": "zh-CN",
    "Authorization": _auth("tiw", "cb90c7dd6924863c23aef9daffeb6a1cdc7c7d5f8ff13797b6af5dfe6415246a"),
}

# B. GET + TC3, ecm DescribeCustomImageTask (no region)
B_QUERY = "Filters.0.Values.0=21&Filters.0.Name=task-id"
B_HEADERS = {
    "X-TC-TraceId": "00000000-0000-4000-8000-000000000000",
    "Content-Type": "application/x-www-form-urlencoded",
    "Host": SIGNED_HOST,
    "X-TC-Action": "DescribeCustomImageTask",
    "X-TC-RequestClient": "SDK_PYTHON_3.1.105",
    "X-TC-Timestamp": "1700000000",
    "X-TC-Version": "2019-07-19",
    "X-TC-Language": "zh-CN",
    "Authorization": _auth("ecm", "850b15be049c437461847956d22765f2c652672458f7a9c827dc27ed9d4079b4"),
}

# C. GET + HmacSHA256 (v1), ecm DescribeCustomImageTask
C_QUERY = ("Filters.0.Values.0=21&Filters.0.Name=task-id&Action=DescribeCustomImageTask"
           "&RequestClient=SDK_PYTHON_3.1.105&Nonce=1234567890&Timestamp=1700000000&Version=2019-07-19"
           "&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA256&Language=zh-CN"
           "&Signature=ISrIwCzflKkc2eNDRbevFTazNM7QxDrUlJTTw2JyAls%3D")
C_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Host": SIGNED_HOST}
C_STRING_TO_SIGN = (
    "GET127.0.0.1:18080/?Action=DescribeCustomImageTask&Filters.0.Name=task-id&Filters.0.Values.0=21"
    "&Language=zh-CN&Nonce=1234567890&RequestClient=SDK_PYTHON_3.1.105"
    "&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA256&Timestamp=1700000000"
    "&Version=2019-07-19")

# D. POST + HmacSHA1 (v1), tiw DescribeSnapshotTask
D_BODY = (b"TaskID=f2e1728c-6e87-4481-abe1-cde8542a5a10&SdkAppId=1400127230&Action=DescribeSnapshotTask"
          b"&RequestClient=SDK_PYTHON_3.1.105&Nonce=1234567890&Timestamp=1700000000&Version=2019-09-19"
          b"&Region=ap-singapore&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&SignatureMethod=HmacSHA1"
          b"&Language=zh-CN&Signature=ujJ59JB7mdzTyEI5sts%2FP7u0nQQ%3D")
D_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Host": SIGNED_HOST}

# E. POST + TC3 with token, nested struct and non-ASCII, tiw CreateSnapshotTask (en-US)
E_BODY = (rb'{"Whiteboard": {"Width": 1280, "Height": 720, "InitParams": "{\"ratio\":\"16:9\"}"}, '
          rb'"SdkAppId": 1400123480, "RoomId": 12345, "CallbackURL": "http://127.0.0.1:9/cb?a=1&b=\u767d\u677f", '
          rb'"SnapshotMode": "AllMarks"}')
E_HEADERS = {
    "Content-Type": "application/json",
    "Host": SIGNED_HOST,
    "X-TC-Action": "CreateSnapshotTask",
    "X-TC-Timestamp": "1700000000",
    "X-TC-Version": "2019-09-19",
    "X-TC-Region": "ap-singapore",
    "X-TC-Token": "tok-123",
    "X-TC-Language": "en-US",
    "Authorization": _auth("tiw", "f66d8908b4d98e1873c1feef78499c55360d95dff6d967e2af9ced8d6736d17c"),
}
E_GET_QUERY = ("Whiteboard.Width=1280&Whiteboard.Height=720&Whiteboard.InitParams=%7B%22ratio%22%3A%2216%3A9%22%7D"
               "&SdkAppId=1400123480&RoomId=12345&CallbackURL=http%3A%2F%2F127.0.0.1%3A9%2Fcb%3Fa%3D1%26b%3D%E7%99%BD%E6%9D%BF"
               "&SnapshotMode=AllMarks")

# tccli 3.1.189.1 with --endpoint http://127.0.0.1:18080: the scheme is inside Host, and signed.
TCCLI_HEADERS = {
    "Content-Type": "application/json",
    "Host": "http://127.0.0.1:18080",
    "X-TC-Action": "DescribeSnapshotTask",
    "X-TC-RequestClient": "SDK_PYTHON_3.1.105; _CLI_3.1.189.1",
    "X-TC-Timestamp": "1700000000",
    "X-TC-Version": "2019-09-19",
    "X-TC-Region": "ap-singapore",
    "X-TC-Language": "zh-CN",
    "Authorization": _auth("tiw", "a139f364533f316b74bacde048484f47473f768928c1f80a7e157aa8e95fc7a4"),
}
TCCLI_BODY = A_BODY

# Node SDK 4.1.220: service "127", host signed without its port.
NODE_HEADERS = {
    "Host": SIGNED_HOST,
    "X-TC-Action": "DescribeSnapshotTask",
    "X-TC-Region": "ap-singapore",
    "X-TC-Timestamp": "1700000000",
    "X-TC-Version": "2019-09-19",
    "X-TC-RequestClient": "SDK_NODEJS_4.1.220",
    "Content-Type": "application/json",
    "Authorization": _auth("127", "4ba58c7792208353695868bbbcd0cd6fd398f6867913f8578b80b9fb3bf421ba"),
}
NODE_BODY = b'{"TaskID":"f2e1728c-6e87-4481-abe1-cde8542a5a10","SdkAppId":1400127230}'
