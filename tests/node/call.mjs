// One API call through the official Node SDK (tencentcloud-sdk-nodejs-common's CommonClient).
//
// usage: node call.mjs '<json spec>'
//   spec: {"endpoint": "127.0.0.1:PORT", "version": "2020-11-01", "action": "DescribeUnfinishRefreshTask",
//          "params": {...}, "region": "ap-singapore" | null, "reqMethod": "POST" | "GET",
//          "signMethod": "TC3-HMAC-SHA256" | "HmacSHA256" | "HmacSHA1", "language": "en-US" | null}
//   credentials: env TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY.
// Prints one JSON line: {"ok": true, "response": {...}} or
// {"ok": false, "code": ..., "message": ..., "requestId": ..., "httpCode": ...}. Exit status 0 either way;
// anything else (bad spec, crash) exits non-zero.
import sdk from "tencentcloud-sdk-nodejs-common";

const { CommonClient } = sdk;

const spec = JSON.parse(process.argv[2] ?? "{}");
for (const key of ["endpoint", "version", "action"]) {
  if (!spec[key]) {
    console.error(`call.mjs: spec.${key} is required`);
    process.exit(2);
  }
}

const profile = {
  signMethod: spec.signMethod ?? "TC3-HMAC-SHA256",
  httpProfile: {
    endpoint: spec.endpoint,
    protocol: "http://",
    reqMethod: spec.reqMethod ?? "POST",
    reqTimeout: 30,
  },
};
if (spec.language) profile.language = spec.language;

const client = new CommonClient(spec.endpoint, spec.version, {
  credential: {
    secretId: process.env.TENCENTCLOUD_SECRET_ID,
    secretKey: process.env.TENCENTCLOUD_SECRET_KEY,
  },
  region: spec.region ?? "",
  profile,
});

try {
  const response = await client.request(spec.action, spec.params ?? {});
  console.log(JSON.stringify({ ok: true, response }));
} catch (e) {
  console.log(
    JSON.stringify({
      ok: false,
      code: e.code ?? null,
      message: e.message ?? String(e),
      requestId: e.requestId ?? null,
      httpCode: e.httpCode ?? null,
    }),
  );
}
