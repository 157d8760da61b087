// Runs the compiled examples/feature-flags.ts against tests/vectors/flag_buckets.json.
// Usage: node flags_ts_runner.mjs COMPILED_MODULE.js VECTORS.json
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [modulePath, vectorsPath] = process.argv.slice(2);
const ff = await import(pathToFileURL(modulePath).href);
const vectors = JSON.parse(readFileSync(vectorsPath, "utf8"));
let passed = 0;
let failed = 0;
const check = (ok, what) => {
  if (ok) passed += 1;
  else {
    failed += 1;
    console.error(`FAIL ${what}`);
  }
};

for (const c of vectors.cases) {
  const micro = await ff.microPercentile(c.seed, c.userId);
  check(micro === c.microPercentile, `${c.seed}/${JSON.stringify(c.userId)}: ${micro}`);
  for (const [percent, expected] of Object.entries(c.checks)) {
    check(ff.inRollout(micro, Number(percent)) === expected, `${c.userId} at ${percent}%`);
    const doc = { enabled: true, rolloutPercent: Number(percent), seed: c.seed };
    const on = await ff.isFeatureEnabledForUser({ f: doc }, "f", c.userId);
    check(on === expected, `isFeatureEnabledForUser ${c.userId} at ${percent}%`);
  }
}
for (const e of vectors.errors) {
  let threw = false;
  try {
    ff.userIdBytes(e.userId);
  } catch (err) {
    threw = err instanceof ff.InvalidUserId;
  }
  check(threw, `refuses ${JSON.stringify(e.userId)}`);
}

// Precedence, with a user that is in a 100% bucket.
const on = { enabled: true, rolloutPercent: 100 };
const cases = [
  [{ ...on, killSwitch: true, allowUsers: ["u"] }, false, "kill beats allow"],
  [{ ...on, enabled: false, allowUsers: ["u"] }, false, "disabled beats allow"],
  [{ ...on, denyUsers: ["u"], allowUsers: ["u"] }, false, "deny beats allow"],
  [{ ...on, rolloutPercent: 0, allowUsers: ["u"] }, true, "allow beats bucket"],
  [{ ...on, alwaysOn: true }, true, "always on"],
  [{ ...on, rolloutPercent: 0 }, false, "0% is nobody"],
];
for (const [doc, expected, what] of cases) {
  check((await ff.isFeatureEnabledForUser({ f: doc }, "f", "u")) === expected, what);
}
check((await ff.isFeatureEnabledForUser({}, "ghost", "u")) === false, "unknown flag is off");
check((await ff.isFeatureEnabledForUser({}, "panicTracking", "u")) === true, "safety default on");

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
