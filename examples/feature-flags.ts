/**
 * Avalo feature flags: the reference client evaluation (TypeScript, no dependencies).
 *
 * Same rule as the control plane's Python (`shared/flags`) and as a Firebase Remote Config
 * percent condition with the same seed, so a user lands in the same bucket everywhere:
 *
 *   microPercentile = int(SHA-256(UTF-8(seed + "." + userId))) mod 100,000,000
 *   in the rollout  iff rolloutPercent > 0 and microPercentile <= round(rolloutPercent * 1e6)
 *
 * Precedence: killSwitch → off; alwaysOn → on; !enabled → off; denyUsers → off;
 * allowUsers → on; otherwise the bucket. An unknown flag is off (safety flags on).
 * Checked against tests/vectors/flag_buckets.json by tests/unit/test_flags_typescript.py.
 */

/** The `featureFlags/{flag}` document fields that decide evaluation. */
export type FlagDoc = {
  enabled: boolean;
  rolloutPercent: number;
  killSwitch?: boolean;
  alwaysOn?: boolean;
  allowUsers?: string[];
  denyUsers?: string[];
  seed?: string | null;
};

const MICRO_SPACE = 100_000_000;
/** Safety flags that stay on even if their document is missing. */
const ALWAYS_ON_FLAGS: ReadonlySet<string> = new Set(["refundButtons", "panicTracking"]);
/** "Blank" = empty or only these characters (exactly Python's str.isspace set). */
const BLANK =
  /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;
/** A surrogate half without its partner: not valid Unicode, so not UTF-8 encodable. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export class InvalidUserId extends Error {}

/** The UTF-8 bytes of a user id; throws for ids no client may bucket. */
export function userIdBytes(userId: string): Uint8Array {
  if (typeof userId !== "string") throw new InvalidUserId("user id must be a string");
  if (BLANK.test(userId)) throw new InvalidUserId("user id must not be empty or blank");
  // TextEncoder would silently turn a lone surrogate into U+FFFD and bucket another string.
  if (LONE_SURROGATE.test(userId)) throw new InvalidUserId("user id is not valid Unicode");
  return new TextEncoder().encode(userId);
}

/** Remote Config's micro-percentile (0..99,999,999) of a user for a seed. */
export async function microPercentile(seed: string, userId: string): Promise<number> {
  const user = userIdBytes(userId);
  const prefix = new TextEncoder().encode(`${seed}.`);
  const input = new Uint8Array(prefix.length + user.length);
  input.set(prefix, 0);
  input.set(user, prefix.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  // The 256-bit big-endian integer mod 1e8, a byte at a time: stays below 2^53, no BigInt.
  let rest = 0;
  for (const byte of digest) rest = (rest * 256 + byte) % MICRO_SPACE;
  return rest;
}

export function inRollout(micro: number, rolloutPercent: number): boolean {
  const threshold = Math.round(rolloutPercent * 1_000_000);
  return threshold > 0 && micro <= threshold;
}

/** Is `flag` on for `userId`, given the flags the app has (e.g. from a Firestore listener)? */
export async function isFeatureEnabledForUser(
  flags: Readonly<Record<string, FlagDoc | undefined>>,
  flag: string,
  userId: string,
): Promise<boolean> {
  userIdBytes(userId); // bad ids are refused whatever the flag says
  const doc = flags[flag];
  if (doc === undefined) return ALWAYS_ON_FLAGS.has(flag);
  if (doc.killSwitch === true) return false;
  if (doc.alwaysOn === true) return true;
  if (!doc.enabled) return false;
  if (doc.denyUsers?.includes(userId)) return false;
  if (doc.allowUsers?.includes(userId)) return true;
  const micro = await microPercentile(doc.seed || flag, userId);
  return inRollout(micro, doc.rolloutPercent);
}
