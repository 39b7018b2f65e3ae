/* Offline check of a vigie-access-history/v1 export bundle, in the browser (or node).
 *
 * Mirrors ledger/export.py `verify_export`: checkpoint note signed by the trusted Ed25519 key
 * (C2SP signed-note, key id checked), each header canonicalised (RFC 8785) and hashed as an
 * RFC 9162 leaf, each inclusion proof checked against the checkpoint root, the patient chain
 * (patient_seq gap-free, patient_prev links, one patient_ref), payload commitments
 * SHA-256(salt || JCS(payload)) where present, and the last entry being the export itself.
 * Failures are {check, detail, entry, seq}, named like the Python verifier's.
 */
(function (root) {
  "use strict";

  const subtle = root.crypto.subtle;
  const utf8 = new TextEncoder();
  const FORMAT = "vigie-access-history/v1";
  const EXPORT_ACTION = "traces.export";
  const BUNDLE_KEYS = ["checkpoint", "entries", "format", "key", "patient_id"];
  const ENTRY_KEYS = ["header", "inclusion_proof", "index", "payload", "salt"];
  const HEADER_KEYS = [
    "action", "decision", "kind", "mode", "obligations", "patient_prev", "patient_ref",
    "patient_seq", "payload_hash", "policy_version", "prev", "reason", "seq", "time", "v",
  ];
  const HEX64 = /^[0-9a-f]{64}$/;
  const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
  const SIG_PREFIX = "\u2014 ";

  class CheckError extends Error {}

  /* RFC 8785: keys sorted by UTF-16 code units (the default sort), numbers and strings as
   * JSON.stringify writes them (ECMAScript number serialisation, the same escapes), no
   * whitespace. Rejects what JCS cannot represent. */
  function canonicalize(value) {
    if (value === null || typeof value === "boolean") return JSON.stringify(value);
    if (typeof value === "number") {
      // JSON numbers are doubles here (JSON.parse keeps no integer/float distinction), so
      // 1e30 is written "1e+30" as JCS says; header integers are bounded by checkHeader.
      if (!Number.isFinite(value)) throw new CheckError("cannot canonicalise: " + value);
      return JSON.stringify(value);
    }
    if (typeof value === "string") {
      if (!value.isWellFormed()) throw new CheckError("cannot canonicalise: lone surrogate");
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) return "[" + value.map(canonicalize).join(",") + "]";
    if (typeof value === "object") {
      const keys = Object.keys(value).sort();
      return "{" + keys.map((k) => {
        if (!k.isWellFormed()) throw new CheckError("cannot canonicalise: lone surrogate");
        return JSON.stringify(k) + ":" + canonicalize(value[k]);
      }).join(",") + "}";
    }
    throw new CheckError("cannot canonicalise a " + typeof value);
  }

  function canonicalBytes(value) { return utf8.encode(canonicalize(value)); }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function fromHex(text) {
    if (typeof text !== "string" || !/^([0-9a-f]{2})*$/.test(text)) {
      throw new CheckError("not lowercase hex: " + JSON.stringify(text));
    }
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    return out;
  }

  function fromBase64(text, what) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
      throw new CheckError(what + " is not valid base64: " + JSON.stringify(text));
    }
    const raw = atob(text);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function toBase64(bytes) { return btoa(String.fromCharCode(...bytes)); }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  async function sha256(bytes) { return new Uint8Array(await subtle.digest("SHA-256", bytes)); }

  async function leafHash(header) { return sha256(concat([0], canonicalBytes(header))); }

  const nodeHash = (left, right) => sha256(concat([1], left, right));

  /* ---- C2SP signed notes -------------------------------------------------------------- */

  async function keyId(name, publicKey, alg = 1) {
    return (await sha256(concat(utf8.encode(name + "\n"), [alg], publicKey))).slice(0, 4);
  }

  /* A verifier key name+keyid+base64(alg || key): 0x01 signs notes, 0x04 cosignatures. */
  async function parseVerifierKey(vkey, alg = 1) {
    const parts = vkey.trim().split("+");
    if (parts.length < 3) throw new CheckError("verifier key must be name+keyid+key");
    const name = parts[0], hexId = parts[1], b64 = parts.slice(2).join("+");
    if (!name || /\s/.test(name)) throw new CheckError("bad key name " + JSON.stringify(name));
    if (!/^[0-9a-f]{8}$/.test(hexId)) throw new CheckError("verifier key id must be 8 lowercase hex digits");
    const raw = fromBase64(b64, "verifier key");
    if (raw.length !== 33 || raw[0] !== alg) {
      throw new CheckError("verifier key must be 0x0" + alg + " followed by a 32-byte Ed25519 key");
    }
    const publicKey = raw.slice(1);
    const expected = hex(await keyId(name, publicKey, alg));
    if (expected !== hexId) {
      throw new CheckError("verifier key id mismatch: expected " + expected + ", got " + hexId);
    }
    return { name, keyId: fromHex(hexId), publicKey };
  }

  function parseNote(note) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0) throw new CheckError("note has no blank line before its signatures");
    const text = note.slice(0, split + 1), block = note.slice(split + 2);
    if (!block.endsWith("\n")) throw new CheckError("signature block must end with a newline");
    const signatures = block.slice(0, -1).split("\n").map((line) => {
      if (!line.startsWith(SIG_PREFIX)) throw new CheckError("malformed signature line");
      const fields = line.slice(SIG_PREFIX.length).split(" ");
      if (fields.length !== 2) throw new CheckError("malformed signature line");
      const raw = fromBase64(fields[1], "signature");
      if (raw.length < 5) throw new CheckError("signature is too short");
      return { name: fields[0], keyId: raw.slice(0, 4), signature: raw.slice(4) };
    });
    return { text, signatures };
  }

  /* The note's text once a signature by `verifier` verifies (unknown keys are ignored). */
  async function openNote(note, verifier) {
    const { text, signatures } = parseNote(note);
    const key = await subtle.importKey("raw", verifier.publicKey, { name: "Ed25519" }, false, ["verify"]);
    let verified = 0;
    for (const sig of signatures) {
      if (sig.name !== verifier.name || !equal(sig.keyId, verifier.keyId)) continue;
      const ok = await subtle.verify({ name: "Ed25519" }, key, sig.signature, utf8.encode(text));
      if (!ok) {
        throw new CheckError("signature of " + sig.name + "+" + hex(sig.keyId) + " does not verify over the note text");
      }
      verified += 1;
    }
    if (!verified) {
      const got = signatures.map((s) => s.name + "+" + hex(s.keyId)).join(", ");
      throw new CheckError("no signature by a trusted key: expected " + verifier.name + "+" + hex(verifier.keyId) + ", got " + got);
    }
    return text;
  }

  function parseCheckpoint(text) {
    if (!text.endsWith("\n")) throw new CheckError("checkpoint body must end with a newline");
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3) throw new CheckError("checkpoint body has " + lines.length + " line(s), expected >= 3");
    const [origin, sizeText, rootText] = lines;
    if (!origin) throw new CheckError("checkpoint origin is empty");
    if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
      throw new CheckError("checkpoint size " + JSON.stringify(sizeText) + " is not a decimal number");
    }
    const rootHash = fromBase64(rootText, "checkpoint root");
    if (rootHash.length !== 32 || toBase64(rootHash) !== rootText) {
      throw new CheckError("checkpoint root " + JSON.stringify(rootText) + " is not a 32-byte hash");
    }
    return { origin, size: Number(sizeText), root: rootHash };
  }

  async function verifyCheckpoint(note, verifier) {
    return parseCheckpoint(await openNote(note, verifier));
  }

  /* ---- RFC 9162 proofs (as transparency-dev/merkle) ---------------------------------- */

  const bitLength = (n) => n.toString(2).replace(/^0+/, "").length;  // n: BigInt >= 0
  const popCount = (n) => n.toString(2).split("").filter((c) => c === "1").length;

  async function chainInner(seed, proof, index) {
    for (let i = 0; i < proof.length; i++) {
      seed = (index >> BigInt(i)) & 1n ? await nodeHash(proof[i], seed) : await nodeHash(seed, proof[i]);
    }
    return seed;
  }

  async function chainInnerRight(seed, proof, index) {
    for (let i = 0; i < proof.length; i++) {
      if ((index >> BigInt(i)) & 1n) seed = await nodeHash(proof[i], seed);
    }
    return seed;
  }

  async function chainBorderRight(seed, proof) {
    for (const digest of proof) seed = await nodeHash(digest, seed);
    return seed;
  }

  function decompose(index, size) {
    const inner = bitLength(index ^ (size - 1n));
    return [inner, popCount(index >> BigInt(inner))];
  }

  async function rootFromInclusionProof(index, size, leaf, proof) {
    const i = BigInt(index), n = BigInt(size);
    if (!(0n <= i && i < n)) throw new CheckError("index " + index + " is beyond tree size " + size);
    if (leaf.length !== 32) throw new CheckError("leaf hash has " + leaf.length + " bytes, expected 32");
    const [inner, border] = decompose(i, n);
    if (proof.length !== inner + border) {
      throw new CheckError("proof has " + proof.length + " hashes, expected " + (inner + border) + " for leaf " + index + " of " + size);
    }
    proof.forEach((d, p) => {
      if (d.length !== 32) throw new CheckError("proof hash " + p + " has " + d.length + " bytes, expected 32");
    });
    const seed = await chainInner(leaf, proof.slice(0, inner), i);
    return chainBorderRight(seed, proof.slice(inner));
  }

  async function verifyInclusion(index, size, leaf, proof, rootHash) {
    const computed = await rootFromInclusionProof(index, size, leaf, proof);
    if (!equal(computed, rootHash)) {
      throw new CheckError("root mismatch: proof gives " + hex(computed) + ", expected " + hex(rootHash));
    }
  }

  async function verifyConsistency(size1, size2, proof, root1, root2) {
    const s1 = BigInt(size1), s2 = BigInt(size2);
    if (s2 < s1) throw new CheckError("size2 (" + size2 + ") < size1 (" + size1 + ")");
    if (s1 === 0n) throw new CheckError("consistency proof with an empty first tree is meaningless");
    if (s1 === s2) {
      if (proof.length) throw new CheckError("sizes are equal but the proof has " + proof.length + " hashes");
      if (!equal(root1, root2)) throw new CheckError("sizes are equal but roots differ");
      return;
    }
    if (!proof.length) throw new CheckError("empty proof for different sizes");
    let [inner, border] = decompose(s1 - 1n, s2);
    const shift = bitLength(s1 & -s1) - 1;
    inner -= shift;
    let seed, start;
    if (s1 === 1n << BigInt(shift)) { seed = root1; start = 0; } else { seed = proof[0]; start = 1; }
    if (proof.length !== start + inner + border) {
      throw new CheckError("proof has " + proof.length + " hashes, expected " + (start + inner + border) + " for sizes " + size1 + " -> " + size2);
    }
    proof.forEach((d, p) => {
      if (d.length !== 32) throw new CheckError("proof hash " + p + " has " + d.length + " bytes, expected 32");
    });
    const rest = proof.slice(start), mask = (s1 - 1n) >> BigInt(shift);
    const hash1 = await chainBorderRight(await chainInnerRight(seed, rest.slice(0, inner), mask), rest.slice(inner));
    if (!equal(hash1, root1)) throw new CheckError("first root mismatch: proof gives " + hex(hash1) + ", expected " + hex(root1));
    const hash2 = await chainBorderRight(await chainInner(seed, rest.slice(0, inner), mask), rest.slice(inner));
    if (!equal(hash2, root2)) throw new CheckError("second root mismatch: proof gives " + hex(hash2) + ", expected " + hex(root2));
  }

  /* ---- entries and bundles ------------------------------------------------------------ */

  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const sameKeys = (obj, keys) => JSON.stringify(Object.keys(obj).sort()) === JSON.stringify(keys);
  const isInt = (v) => Number.isSafeInteger(v);

  function checkHeader(h) {
    if (!sameKeys(h, HEADER_KEYS)) {
      const keys = Object.keys(h);
      const missing = HEADER_KEYS.filter((k) => !keys.includes(k));
      const extra = keys.filter((k) => !HEADER_KEYS.includes(k)).sort();
      throw new CheckError("header keys: missing " + JSON.stringify(missing) + ", unexpected " + JSON.stringify(extra));
    }
    if (h.v !== 1) throw new CheckError("header.v must be 1, got " + JSON.stringify(h.v));
    if (!isInt(h.seq) || h.seq < 0) throw new CheckError("header.seq must be an int >= 0");
    if (typeof h.time !== "string" || !TIME.test(h.time) || Number.isNaN(Date.parse(h.time))) {
      throw new CheckError("header.time must be YYYY-MM-DDTHH:MM:SS.ffffffZ, got " + JSON.stringify(h.time));
    }
    if (!["command", "decision", "erasure"].includes(h.kind)) throw new CheckError("header.kind must be one of decision, command, erasure, got " + JSON.stringify(h.kind));
    if (!["permit", "deny"].includes(h.decision)) throw new CheckError("header.decision must be permit or deny, got " + JSON.stringify(h.decision));
    for (const name of ["action", "mode", "reason"]) {
      if (typeof h[name] !== "string") throw new CheckError("header." + name + " must be a string");
    }
    if (!Array.isArray(h.obligations)) throw new CheckError("header.obligations must be a list");
    h.obligations.forEach((o, i) => {
      if (!isObject(o) || !sameKeys(o, ["recipients", "type"]) || typeof o.type !== "string" ||
          !Array.isArray(o.recipients) || o.recipients.some((r) => typeof r !== "string")) {
        throw new CheckError("header.obligations[" + i + "] must be {type, recipients}");
      }
    });
    for (const name of ["policy_version", "payload_hash"]) {
      if (typeof h[name] !== "string" || !HEX64.test(h[name])) throw new CheckError("header." + name + " must be 64 lowercase hex digits");
    }
    for (const name of ["patient_ref", "patient_prev", "prev"]) {
      if (h[name] !== null && (typeof h[name] !== "string" || !HEX64.test(h[name]))) {
        throw new CheckError("header." + name + " must be 64 lowercase hex digits, got " + JSON.stringify(h[name]));
      }
    }
    if (h.patient_ref === null) {
      if (h.patient_seq !== null || h.patient_prev !== null) throw new CheckError("an entry without patient_ref has null patient_seq/patient_prev");
    } else {
      if (!isInt(h.patient_seq) || h.patient_seq < 0) throw new CheckError("header.patient_seq must be an int >= 0, got " + JSON.stringify(h.patient_seq));
      if ((h.patient_seq === 0) !== (h.patient_prev === null)) throw new CheckError("header.patient_prev must be null exactly when patient_seq is 0");
    }
    if ((h.seq === 0) !== (h.prev === null)) throw new CheckError("header.prev must be null exactly when seq is 0");
  }

  async function checkEntry(i, item, checkpoint, patientId, fail) {
    if (!isObject(item) || !sameKeys(item, ENTRY_KEYS)) {
      fail("format", "entry must have keys " + JSON.stringify(ENTRY_KEYS), i);
      return null;
    }
    const header = item.header;
    let leaf;
    try {
      if (!isObject(header)) throw new CheckError("header must be an object");
      checkHeader(header);
      leaf = await leafHash(header);
    } catch (e) {
      fail("header", e.message, i);
      return null;
    }
    const seq = header.seq;
    if (item.index !== seq) fail("index", "index " + JSON.stringify(item.index) + " differs from header seq " + seq, i, seq);
    try {
      if (!Array.isArray(item.inclusion_proof)) throw new CheckError("inclusion_proof must be a list");
      const proof = item.inclusion_proof.map((h) => fromBase64(h, "proof hash"));
      await verifyInclusion(seq, checkpoint.size, leaf, proof, checkpoint.root);
    } catch (e) {
      fail("inclusion proof", "not included in the checkpoint: " + e.message, i, seq);
    }
    const { payload, salt } = item;
    if (payload === null && salt === null) return { header, leaf, erased: true };
    if (payload === null || salt === null) {
      fail("payload", "exactly one of payload and salt is null", i, seq);
      return { header, leaf, erased: false };
    }
    let got;
    try {
      const saltBytes = fromHex(salt);
      if (saltBytes.length !== 32) throw new CheckError("salt must be 64 lowercase hex digits");
      got = hex(await sha256(concat(saltBytes, canonicalBytes(payload))));
    } catch (e) {
      fail("payload", e.message, i, seq);
      return { header, leaf, erased: false };
    }
    if (got !== header.payload_hash) {
      fail("payload commitment", "expected " + header.payload_hash + ", got " + got, i, seq);
    } else if (header.kind !== "erasure" && (!isObject(payload) || payload.patient_id !== patientId)) {
      const named = isObject(payload) ? payload.patient_id : null;
      fail("patient", "payload names patient " + JSON.stringify(named ?? null) + ", not " + JSON.stringify(patientId), i, seq);
    }
    return { header, leaf, erased: false };
  }

  /* ---- C2SP tlog-cosignature (cosignature/v1): witnesses' timestamped Ed25519 lines ---- */

  /* The witnesses counted and those missing in `note` for {keys: [vkey], quorum, maxAge}. */
  async function checkCosignatures(note, policy, now) {
    const { text, signatures } = parseNote(note);
    const counted = [], missing = [];
    for (const vkey of policy.keys) {
      const w = await parseVerifierKey(vkey, 4);
      const sig = signatures.find((s) => s.name === w.name && equal(s.keyId, w.keyId));
      if (!sig) { missing.push(w.name + " (no cosignature)"); continue; }
      if (sig.signature.length !== 72) throw new CheckError("cosignature of " + w.name + " is malformed");
      let time = 0;
      for (const byte of sig.signature.slice(0, 8)) time = time * 256 + byte;
      const message = concat(utf8.encode("cosignature/v1\ntime " + time + "\n"), utf8.encode(text));
      const key = await subtle.importKey("raw", w.publicKey, { name: "Ed25519" }, false, ["verify"]);
      if (!(await subtle.verify({ name: "Ed25519" }, key, sig.signature.slice(8), message))) {
        throw new CheckError("cosignature of " + w.name + "+" + hex(w.keyId) + " does not verify");
      }
      if (time > now + 60) missing.push(w.name + " (dated " + time + ", in the future)");
      else if (policy.maxAge && time < now - policy.maxAge) missing.push(w.name + " (dated " + time + ", older than " + policy.maxAge + " s)");
      else counted.push(w.name);
    }
    return { counted, missing };
  }

  /* The witness policy the page publishes (template hook #vigie-witnesses), or null. */
  function pagePolicy() {
    const doc = root.document;
    const node = doc && doc.getElementById("vigie-witnesses");
    return node ? JSON.parse(node.textContent) : null;
  }

  function cosignedText(count) {
    const doc = root.document;
    const en = doc && doc.documentElement.lang === "en";
    return en ? "cosigned by " + count + " witness(es)" : "cosigné par " + count + " témoins";
  }

  /* Verify `bundle` with only the trusted verifier key string and, when there is a witness
   * policy {keys, quorum, maxAge} (given, or published by the page), a quorum of valid
   * cosignatures of its checkpoint. Returns {ok: true, report} or {ok: false, failures:
   * [{check, detail, entry, seq}]}. */
  async function verifyBundle(bundle, trustedKey, witnesses = pagePolicy()) {
    const failures = [];
    const fail = (check, detail, entry = null, seq = null) => failures.push({ check, detail, entry, seq });
    const done = () => ({ ok: false, failures });
    if (!isObject(bundle)) { fail("format", "bundle must be a JSON object"); return done(); }
    if (!sameKeys(bundle, BUNDLE_KEYS)) {
      fail("format", "bundle keys must be " + JSON.stringify(BUNDLE_KEYS) + ", got " + JSON.stringify(Object.keys(bundle).sort()));
    } else if (bundle.format !== FORMAT) {
      fail("format", "expected " + JSON.stringify(FORMAT) + ", got " + JSON.stringify(bundle.format));
    }
    if (failures.length) return done();
    const patientId = bundle.patient_id;
    if (typeof patientId !== "string" || !patientId) fail("format", "patient_id must be a non-empty string");
    const items = bundle.entries;
    if (!Array.isArray(items) || !items.length) fail("format", "entries must be a non-empty list");
    if (bundle.key !== trustedKey.trim()) {
      fail("key", "bundle key " + JSON.stringify(bundle.key) + " is not the trusted key " + JSON.stringify(trustedKey.trim()));
    }
    let checkpoint;
    try {
      checkpoint = await verifyCheckpoint(String(bundle.checkpoint), await parseVerifierKey(trustedKey));
    } catch (e) {
      fail("checkpoint signature", e.message);
    }
    let cosignedBy = null;
    if (!failures.length && witnesses && witnesses.quorum > 0) {
      try {
        const got = await checkCosignatures(String(bundle.checkpoint), witnesses, Math.floor(Date.now() / 1000));
        if (got.counted.length < witnesses.quorum) {
          fail("cosignatures", got.counted.length + " valid cosignature(s) of the " + witnesses.quorum + " required; missing: " + got.missing.join(", "));
        }
        cosignedBy = got.counted;
      } catch (e) {
        fail("cosignatures", e.message);
      }
    }
    if (failures.length) return done();
    const opened = [];
    for (let i = 0; i < items.length; i++) opened.push(await checkEntry(i, items[i], checkpoint, patientId, fail));
    const refs = new Set(opened.filter(Boolean).map((o) => o.header.patient_ref));
    if (refs.size !== 1 || refs.has(null)) {
      fail("patient_ref", "entries must share one patient_ref, got " + JSON.stringify([...refs].map(String).sort()));
    }
    let previous = null;
    const erased = [];
    opened.forEach((result, i) => {
      if (result === null) { previous = null; return; }
      const { header, leaf } = result;
      if (header.patient_seq !== i) fail("patient chain", "patient_seq is " + header.patient_seq + ", expected " + i, i, header.seq);
      let expected = previous === null ? null : hex(previous);
      if (i > 0 && previous === null) expected = "(unverifiable: previous entry is malformed)";
      if (header.patient_prev !== expected) {
        fail("patient chain", "patient_prev is " + header.patient_prev + ", expected " + expected, i, header.seq);
      }
      if (result.erased) erased.push(header.seq);
      previous = leaf;
    });
    const last = opened[opened.length - 1];
    if (last && last.header.action !== EXPORT_ACTION) {
      fail("export entry", "last entry is " + JSON.stringify(last.header.action) + ", not " + JSON.stringify(EXPORT_ACTION), items.length - 1, last.header.seq);
    }
    if (failures.length) return done();
    return {
      ok: true,
      report: {
        origin: checkpoint.origin, treeSize: checkpoint.size, root: hex(checkpoint.root),
        patientId, patientRef: [...refs][0], entries: items.length, erasedSeqs: erased,
        exportSeq: last.header.seq, lastTime: last.header.time,
        cosignedBy, cosigned: cosignedBy === null ? null : cosignedText(cosignedBy.length),
      },
    };
  }

  function describe(failure) {
    let where = failure.entry === null ? "bundle" : "entries[" + failure.entry + "]";
    if (failure.seq !== null) where += " (seq " + failure.seq + ")";
    return where + ": " + failure.check + ": " + failure.detail;
  }

  const api = {
    canonicalize, canonicalBytes, sha256, leafHash, hex, fromHex, fromBase64, parseVerifierKey,
    parseNote, openNote, parseCheckpoint, verifyCheckpoint, rootFromInclusionProof,
    verifyInclusion, verifyConsistency, checkHeader, verifyBundle, checkCosignatures, describe,
    CheckError,
  };
  root.VigieVerify = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
