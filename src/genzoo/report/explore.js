// The latent explorer of `genzoo serve` (explore.html): sliders over a run's latent code, decoded as they move,
// random and encoded codes, and a 2-D manifold. Served as a file of its own so that the pages run no inline script
// (the server's Content-Security-Policy allows scripts from itself only). The run's name is the body's data-run.
"use strict";
const RUN = document.body.dataset.run;
const $ = (id) => document.getElementById(id);
const query = (params) => new URLSearchParams({run: RUN, ...params}).toString();
let spec = null;  // /api/latent's answer: latent size, slider ranges, centre, classes, what the model can do
let z = [];
let decoding = false, decodeAgain = false, seed = 0, manifoldToken = 0;

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(await response.text());
  return response;
}

// Put a fetched picture into an <img> and wait until it is decoded (so nothing half-loaded is ever shown).
async function show(img, blob) {
  const old = img.src;
  img.src = URL.createObjectURL(blob);
  await img.decode();
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
}

function fmt(value) { return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2); }

// -- the decoding of the sliders' code ----------------------------------------------------------------------------
async function redraw() {  // one decode in flight at a time; moves made meanwhile are drawn after it
  if (decoding) { decodeAgain = true; return; }
  decoding = true;
  try {
    const params = {z: z.map((v) => v.toFixed(4)).join(",")};
    if (spec.classes) params.label = $("label").value;
    await show($("decoded"), await (await fetchOk("/api/decode?" + query(params))).blob());
    $("codeerror").textContent = "";
  } catch (error) { $("codeerror").textContent = error.message; }
  decoding = false;
  if (decodeAgain) { decodeAgain = false; await redraw(); }
}

function setCode(values) {
  z = values.slice();
  for (const k of spec.order) {
    const input = $("z" + k);
    input.value = z[k];
    input.nextElementSibling.value = fmt(z[k]);
  }
  return redraw();
}

function buildSliders() {
  const box = $("sliders");
  for (const k of spec.order) {
    const row = document.createElement("label");
    row.className = "slider";
    const lo = Math.min(spec.low[k], spec.centre[k]), hi = Math.max(spec.high[k], spec.centre[k]);
    const name = document.createElement("span");
    name.textContent = `z[${k}]`;
    const input = document.createElement("input");
    Object.assign(input, {id: "z" + k, type: "range", min: lo, max: hi, step: (hi - lo) / 200 || 0.01});
    input.setAttribute("aria-label", `latent dimension ${k}`);
    row.append(name, input, document.createElement("output"));
    box.appendChild(row);
    input.addEventListener("input", () => {
      z[k] = parseFloat(input.value);
      input.nextElementSibling.value = fmt(z[k]);
      redraw();
    });
  }
}

// -- codes: centre, random, encode --------------------------------------------------------------------------------
function indexError() {  // the test image field, checked here and said in the field's own words
  const text = $("index").value.trim(), last = spec.test_images - 1;
  return /^\d+$/.test(text) && Number(text) <= last ? "" : `test image must be a whole number from 0 to ${last}`;
}

async function encode() {
  const why = indexError();
  $("index").classList.toggle("invalid", why !== "");
  if (why) { $("codeerror").textContent = why; return; }
  try {
    const code = await (await fetchOk("/api/code?" + query({index: $("index").value.trim()}))).json();
    const name = spec.class_names[code.label] ?? String(code.label);
    $("original").src = code.image;
    $("originalcaption").textContent = `test image ${code.index} (class ${name}): the encoded original; ` +
      "the sliders now hold its code";
    $("originalbox").hidden = false;
    if (spec.classes) $("label").value = code.label;
    $("codeerror").textContent = "";
    await setCode(code.z);
  } catch (error) { $("codeerror").textContent = error.message; }
}

async function random() {
  try {
    await setCode((await (await fetchOk("/api/code?" + query({seed: ++seed}))).json()).z);
  } catch (error) { $("codeerror").textContent = error.message; }
}

// -- the 2-D manifold ---------------------------------------------------------------------------------------------
// Its settings, checked before anything is asked of the server: {params} or {error, field} in the page's words.
function manifoldSettings() {
  const [least, most] = spec.manifold_side;
  const text = $("side").value.trim();
  if (!/^\d+$/.test(text) || Number(text) < least || Number(text) > most) {
    return {error: `side must be a whole number from ${least} to ${most}`, field: "side"};
  }
  if ($("dimx").value === $("dimy").value) {
    return {error: "x and y must be two different dimensions", field: "dimy"};
  }
  const params = {dims: $("dimx").value + "," + $("dimy").value, n: text};
  if (spec.classes) params.label = $("label").value;
  return {params};
}

// Check the settings and say what is wrong beside them; a grid on screen that no longer matches them is taken
// away until they are fixed (it would show other settings than the menus).
function checkManifold() {
  const settings = manifoldSettings();
  for (const id of ["side", "dimx", "dimy"]) $(id).classList.toggle("invalid", id === settings.field);
  $("manifolderror").textContent = settings.error || "";
  if (settings.error) {
    manifoldToken++;  // a drawing still on its way is for settings that are gone
    $("plot").hidden = true;
    $("manifoldstate").textContent = "";
  }
  return settings;
}

async function drawManifold() {
  if (spec.manifold) return;  // this model has none (the page says why)
  const settings = checkManifold();
  if (settings.error) return;
  const token = ++manifoldToken;
  $("manifoldstate").textContent = "drawing...";
  try {
    const response = await fetchOk("/api/manifold?" + query(settings.params));
    const axes = JSON.parse(response.headers.get("X-Manifold-Axes"));
    const blob = await response.blob();
    if (token !== manifoldToken) return;  // the settings changed meanwhile: a newer drawing is on its way
    await show($("grid"), blob);
    const [x, y] = axes.dims;
    $("xname").textContent = `z[${x}] \u2192`;
    $("yname").textContent = `z[${y}] \u2191`;
    [$("xleft").textContent, $("xright").textContent] = axes.x.map(fmt);
    [$("ytop").textContent, $("ybottom").textContent] = axes.y.map(fmt);
    const label = spec.classes ? `; class ${spec.classes[Number($("label").value)]} throughout` : "";
    $("plotcaption").textContent = `columns: z[${x}] from ${fmt(axes.x[0])} (left) to ${fmt(axes.x[1])} (right); ` +
      `rows: z[${y}] from ${fmt(axes.y[0])} (top) to ${fmt(axes.y[1])} (bottom); ` +
      `the other dimensions at the centre${label}.`;
    $("plot").hidden = false;
    $("manifoldstate").textContent = "";
  } catch (error) {
    if (token !== manifoldToken) return;
    $("manifoldstate").textContent = "";
    $("manifolderror").textContent = error.message;
  }
}

// -- start: load the model, show the explorer only once it works ------------------------------------------------
function fail(message) {  // a run that cannot be explored: only the message, no dead controls under it
  $("loading").hidden = true;
  $("explorer").hidden = true;
  $("failed").textContent = "This run cannot be explored: " + message;
  $("failed").hidden = false;
}

async function start() {
  try {
    spec = await (await fetchOk("/api/latent?" + query({}))).json();
  } catch (error) { fail(error.message); return; }
  const fixedPrior = spec.prior === "gaussian" || spec.prior === "uniform";
  $("about").textContent = `${spec.model}: ${spec.latent_dim} latent dimensions` +
    (spec.can_encode ? ", the ones the test codes use most first" : "") +
    `; each slider spans the central 99.7% of ${fixedPrior ? "the prior" : "that dimension's test codes"}.`;
  $("manifoldspan").textContent = fixedPrior ? "the prior" : "that dimension's test codes";
  if (spec.classes) {
    $("labelbox").hidden = false;
    spec.classes.forEach((name, i) => $("label").add(new Option(name, i)));
    $("label").addEventListener("change", () => { redraw(); drawManifold(); });
  }
  if (spec.can_encode) {
    $("encodebox").hidden = false;
    $("index").max = spec.test_images - 1;
  }
  buildSliders();
  if (spec.manifold) {
    $("nomanifold").textContent = spec.manifold;
    for (const id of ["nomanifold", "manifoldabout", "manifoldcontrols"]) $(id).hidden = id !== "nomanifold";
  } else {
    for (const box of [$("dimx"), $("dimy")]) spec.order.forEach((k) => box.add(new Option(`z[${k}]`, k)));
    $("dimy").value = spec.order[1];
    const [least, most, side] = spec.manifold_side;
    Object.assign($("side"), {min: least, max: most, value: side});
    for (const id of ["dimx", "dimy", "side"]) $(id).addEventListener("change", drawManifold);
    $("side").addEventListener("input", checkManifold);  // said as it is typed; drawn on change (Enter, leaving)
  }
  $("centre").addEventListener("click", () => setCode(spec.centre));
  $("random").addEventListener("click", random);
  $("encode").addEventListener("click", encode);
  $("index").addEventListener("keydown", (event) => { if (event.key === "Enter") encode(); });
  $("manifold").addEventListener("click", drawManifold);
  await setCode(spec.centre);  // the first decoding is on screen before the explorer shows
  if (!$("decoded").getAttribute("src")) { fail($("codeerror").textContent); return; }
  $("loading").hidden = true;
  $("explorer").hidden = false;
  await drawManifold();
}

start();
