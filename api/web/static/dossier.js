/* The patient page's in-browser verification: download the export bundle, check it with
 * VigieVerify against the published key and checkpoint, and say what holds or what failed. */
(function () {
  "use strict";
  const button = document.getElementById("verify-button");
  const out = document.getElementById("verify-result");
  if (!button || !out) return;
  const en = button.dataset.lang === "en";
  const L = en ? {
    running: "Downloading and verifying…",
    ok: (n, when) => "Verified: " + n + " entries, complete up to " + when + ".",
    failed: (n) => "Verification FAILED: " + n + " check(s) did not hold.",
    details: (r) => "Checkpoint " + r.origin + ", tree size " + r.treeSize + ", root " + r.root + "; signature verified with the published key.",
    published: (s) => "Consistent with the latest published checkpoint (size " + s + ").",
    save: "Save the verified file",
    error: "Could not download: ",
  } : {
    running: "Téléchargement et vérification…",
    ok: (n, when) => "Vérifié : " + n + " entrées, complet jusqu'au " + when + ".",
    failed: (n) => "Vérification ÉCHOUÉE : " + n + " contrôle(s) en défaut.",
    details: (r) => "Point de contrôle " + r.origin + ", taille " + r.treeSize + ", racine " + r.root + " ; signature vérifiée avec la clé publiée.",
    published: (s) => "Cohérent avec le dernier point de contrôle publié (taille " + s + ").",
    save: "Enregistrer le fichier vérifié",
    error: "Téléchargement impossible : ",
  };
  const V = window.VigieVerify;

  function para(text, cls) {
    const p = document.createElement("p");
    p.textContent = text;
    if (cls) p.className = cls;
    out.appendChild(p);
    return p;
  }

  async function fetchText(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.text();
  }

  /* The published checkpoint must verify too, and extend the bundle's (consistency proof). */
  async function checkPublished(key, bundleCheckpoint) {
    const note = await fetchText(button.dataset.checkpoint);
    const latest = await V.verifyCheckpoint(note, await V.parseVerifierKey(key));
    const ours = await V.verifyCheckpoint(bundleCheckpoint, await V.parseVerifierKey(key));
    if (latest.origin !== ours.origin) throw new V.CheckError("origin " + latest.origin + " differs from " + ours.origin);
    if (latest.size < ours.size) throw new V.CheckError("published size " + latest.size + " is below the bundle's " + ours.size);
    if (latest.size > ours.size) {
      const url = button.dataset.consistency + "?from_size=" + ours.size + "&to_size=" + latest.size;
      const proof = JSON.parse(await fetchText(url)).proof.map((h) => V.fromBase64(h, "proof hash"));
      await V.verifyConsistency(ours.size, latest.size, proof, ours.root, latest.root);
    } else if (V.hex(latest.root) !== V.hex(ours.root)) {
      throw new V.CheckError("same size, different roots");
    }
    return latest.size;
  }

  button.addEventListener("click", async function () {
    button.disabled = true;
    out.textContent = "";
    out.className = "";
    para(L.running);
    try {
      const key = (await fetchText(button.dataset.key)).trim();
      const text = await fetchText(button.dataset.export);
      let bundle;
      try { bundle = JSON.parse(text); } catch (e) { bundle = text; }
      const result = await V.verifyBundle(bundle, key);
      if (result.ok) {
        try {
          result.publishedSize = await checkPublished(key, bundle.checkpoint);
        } catch (e) {
          result.ok = false;
          result.failures = [{ check: "published checkpoint", detail: e.message, entry: null, seq: null }];
        }
      }
      out.textContent = "";
      if (result.ok) {
        const when = new Date(result.report.lastTime).toLocaleString(en ? "en-GB" : "fr-FR", { timeZone: "Europe/Paris" });
        out.className = "verified";
        para(L.ok(result.report.entries, when), "headline").id = "verify-headline";
        para(L.details(result.report), "meta");
        if (result.report.cosigned) para(result.report.cosigned, "meta");
        para(L.published(result.publishedSize), "meta");
        const link = document.createElement("a");
        link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
        link.download = "vigie-access-history-" + result.report.exportSeq + ".json";
        link.textContent = L.save;
        out.appendChild(link);
      } else {
        out.className = "failed";
        para(L.failed(result.failures.length), "headline").id = "verify-headline";
        const list = document.createElement("ul");
        list.className = "failures";
        for (const failure of result.failures) {
          const li = document.createElement("li");
          li.textContent = V.describe(failure);
          list.appendChild(li);
        }
        out.appendChild(list);
      }
    } catch (e) {
      out.textContent = "";
      out.className = "failed";
      para(L.error + e.message, "headline").id = "verify-headline";
    } finally {
      button.disabled = false;
    }
  });
})();
