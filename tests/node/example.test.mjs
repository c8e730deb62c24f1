// The README's Node example: run by `taskgate exec -- node --test example.test.mjs`, which exports
// TASKGATE_ENDPOINT and the well-known TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY.
import { test } from "node:test";
import assert from "node:assert/strict";
import sdk from "tencentcloud-sdk-nodejs-common";

const host = new URL(process.env.TASKGATE_ENDPOINT).host; // 127.0.0.1:PORT
const ecm = new sdk.CommonClient(host, "2019-07-19", {
  credential: { secretId: process.env.TENCENTCLOUD_SECRET_ID, secretKey: process.env.TENCENTCLOUD_SECRET_KEY },
  region: "",
  profile: { httpProfile: { endpoint: host, protocol: "http://" } },
});

test("a fresh emulator has no images", async () => {
  const answer = await ecm.request("DescribeImage", {});
  assert.equal(answer.TotalCount, 0);
});
