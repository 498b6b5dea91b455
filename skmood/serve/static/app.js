// skmood web page: classify chosen images, or webcam frames, with POST predict.
// Plain JavaScript, no build step and nothing loaded from elsewhere.
"use strict";

const state = {
  apiKey: sessionStorage.getItem("skmood-api-key") || "",
  maxFiles: 16,
  classes: [],
  stream: null,
  timer: null,
  busy: false,
  frames: 0,
};

const $ = (id) => document.getElementById(id);

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.apiKey) h["X-API-Key"] = state.apiKey;
  return h;
}

// The query string of POST predict: the page's options.
function faceOptions() {
  return `crop_faces=${$("crop-faces").checked}&all_faces=${$("all-faces").checked}` +
    `&explain=${$("explain").checked}`;
}

// ------------------------------------------------------------------ heat maps
// Matplotlib's "jet", as skmood.overlay_heatmap draws it: (position, value) knots of R, G, B.
const JET = [
  [[0, 0], [0.35, 0], [0.66, 1], [0.89, 1], [1, 0.5]],
  [[0, 0], [0.125, 0], [0.375, 1], [0.64, 1], [0.91, 0], [1, 0]],
  [[0, 0.5], [0.11, 1], [0.34, 1], [0.65, 0], [1, 0]],
];

function interpolate(knots, v) {
  for (let i = 1; i < knots.length; i++) {
    const [x1, y1] = knots[i];
    if (v <= x1) {
      const [x0, y0] = knots[i - 1];
      return y0 + ((y1 - y0) * (v - x0)) / (x1 - x0);
    }
  }
  return knots[knots.length - 1][1];
}

// A canvas with the explanation's heat map in colour (the API sends it in grey).
async function heatCanvas(explanation) {
  const img = new Image();
  img.src = explanation.heatmap;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const d = pixels.data;
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i] / 255;
    for (let c = 0; c < 3; c++) d[i + c] = Math.round(255 * interpolate(JET[c], v));
    d[i + 3] = 255;
  }
  ctx.putImageData(pixels, 0, 0);
  return canvas;
}

// The heat map over a card's photo, on the part of it the network saw.
async function drawHeat(card, prediction) {
  card.querySelectorAll(".heat-map").forEach((old) => old.remove());
  if (!prediction.explanation) return;
  const canvas = await heatCanvas(prediction.explanation);
  canvas.className = "heat-map";
  const img = card.querySelector("img");
  const place = () => {
    const b = prediction.explanation.box;
    const sx = img.clientWidth / prediction.width;
    const sy = img.clientHeight / prediction.height;
    Object.assign(canvas.style, {
      left: `${b.x * sx}px`, top: `${b.y * sy}px`,
      width: `${b.width * sx}px`, height: `${b.height * sy}px`,
    });
    img.parentElement.insertBefore(canvas, img.nextSibling);  // under the face boxes
    card.dataset.heat = "1";
  };
  if (img.complete && img.naturalWidth) place(); else img.addEventListener("load", place, { once: true });
}

// "happy 93%": a face's label and its probability.
function faceText(prediction) {
  return `${prediction.label} ${(100 * prediction.probabilities[prediction.label]).toFixed(0)}%`;
}

// The boxes to draw: every face (labelled) with all_faces, else the classified face.
function boxesToDraw(prediction) {
  if (prediction.faces) return prediction.faces.map((face) => ({ box: face.face_box, face }));
  return prediction.face_box ? [{ box: prediction.face_box, face: null }] : [];
}

async function apiError(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    if (body && body.detail) detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch (e) { /* not JSON */ }
  if (response.status === 401) showKeyPanel(detail);
  return new Error(`${response.status}: ${detail}`);
}

function showKeyPanel(message) {
  $("key-panel").hidden = false;
  $("key-message").textContent = message || "";
}

async function loadModelInfo() {
  const response = await fetch("model", { headers: headers() });
  if (!response.ok) {
    const err = await apiError(response);
    $("model-info").textContent = `Model information unavailable (${err.message}).`;
    return;
  }
  const info = await response.json();
  state.maxFiles = info.limits.max_files;
  state.classes = info.classes;
  $("crop-faces").checked = info.crop_faces;
  $("explain").parentElement.hidden = !info.explainable;  // exported models have no gradients
  if (!info.explainable) $("explain").checked = false;
  const size = info.input_size;
  $("model-info").textContent =
    `Model: ${info.pipeline.join(" → ")} · classes ${info.classes.join(" / ")} · ` +
    `input ${size.height}×${size.width}×${size.channels} · face detector ${info.detector} · ` +
    `skmood ${info.skmood_version}`;
  $("key-panel").hidden = true;
}

function classSlug(label) {
  return String(label).toLowerCase().replace(/[^a-z0-9_-]/g, "");
}

function probabilityBars(probabilities) {
  const box = document.createElement("div");
  for (const [name, p] of Object.entries(probabilities)) {
    const row = document.createElement("div");
    row.className = "bar-row";
    const label = document.createElement("span");
    label.textContent = name;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.className = classSlug(name);
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.appendChild(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(100 * p).toFixed(1)}%`;
    row.append(label, bar, pct);
    box.appendChild(row);
  }
  return box;
}

function makeCard(file) {
  const card = document.createElement("article");
  card.className = "result";
  card.dataset.status = "pending";
  const thumb = document.createElement("div");
  thumb.className = "thumb";
  card.file = file;  // to ask again for its heat map when the toggle is turned on
  const img = document.createElement("img");
  img.alt = file.name;
  img.src = URL.createObjectURL(file);
  thumb.appendChild(img);
  const name = document.createElement("div");
  name.className = "filename";
  name.textContent = file.name;
  const label = document.createElement("div");
  label.className = "label";
  label.textContent = "…";
  const details = document.createElement("div");
  details.className = "details";
  card.append(thumb, label, details, name);
  return card;
}

function drawFaceBox(card, prediction) {
  const img = card.querySelector("img");
  card.querySelectorAll(".face-box").forEach((old) => old.remove());
  const boxes = boxesToDraw(prediction);
  if (!boxes.length) return;
  const place = () => {
    const sx = img.clientWidth / prediction.width;
    const sy = img.clientHeight / prediction.height;
    for (const { box: b, face } of boxes) {
      const div = document.createElement("div");
      div.className = "face-box";
      div.style.left = `${b.x * sx}px`;
      div.style.top = `${b.y * sy}px`;
      div.style.width = `${b.width * sx}px`;
      div.style.height = `${b.height * sy}px`;
      if (face) {
        const tag = document.createElement("span");
        tag.className = `face-label ${classSlug(face.label)}`;
        tag.textContent = faceText(face);
        div.appendChild(tag);
      }
      img.parentElement.appendChild(div);
    }
  };
  if (img.complete && img.naturalWidth) place(); else img.addEventListener("load", place, { once: true });
}

function showPrediction(card, prediction) {
  card.dataset.status = "done";
  const label = card.querySelector(".label");
  label.textContent = prediction.label;
  label.className = `label ${classSlug(prediction.label)}`;
  const details = card.querySelector(".details");
  details.replaceChildren(probabilityBars(prediction.probabilities));
  const meta = document.createElement("div");
  meta.className = "muted";
  const found = prediction.faces
    ? `${prediction.faces.length} face${prediction.faces.length === 1 ? "" : "s"} found`
    : prediction.region === "face" ? "face found" : "no face cropped: whole image";
  meta.textContent = `${found} · ${prediction.time_ms.toFixed(0)} ms`;
  details.appendChild(meta);
  drawFaceBox(card, prediction);
  drawHeat(card, prediction).catch((err) => { meta.textContent += ` · no heat map (${err.message})`; });
}

function showError(card, message) {
  card.dataset.status = "error";
  const label = card.querySelector(".label");
  label.textContent = "error";
  label.className = "label error";
  const details = card.querySelector(".details");
  details.textContent = message;
  details.className = "details error";
}

async function classifyFiles(files) {
  const images = Array.from(files);
  for (let start = 0; start < images.length; start += state.maxFiles) {
    const chunk = images.slice(start, start + state.maxFiles);
    const cards = chunk.map(makeCard);
    $("results").prepend(...cards);  // newest batch first, in the order chosen
    await classifyCards(cards);
  }
}

// POST the cards' files; show each card's answer (or the error).
async function classifyCards(cards) {
  const form = new FormData();
  for (const card of cards) form.append("files", card.file, card.file.name);
  try {
    const response = await fetch(`predict?${faceOptions()}`, {
      method: "POST", body: form, headers: headers(),
    });
    if (!response.ok) throw await apiError(response);
    const body = await response.json();
    body.predictions.forEach((p, i) => showPrediction(cards[i], p));
  } catch (err) {
    cards.forEach((card) => showError(card, err.message));
  }
}

// ------------------------------------------------------------------ webcam
function colorOf(label) {
  return label === "happy" ? "#2e9d4f" : label === "sad" ? "#3a6fc4" : "#8a5cc2";
}

function drawOverlay(prediction, frameWidth, frameHeight, heat) {
  const video = $("webcam-video");
  const canvas = $("webcam-overlay");
  canvas.width = video.clientWidth;
  canvas.height = video.clientHeight;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.faces = "0";
  canvas.dataset.heat = "0";
  if (!prediction) return;
  const sx = canvas.width / frameWidth;
  const sy = canvas.height / frameHeight;
  if (heat && $("explain").checked) {  // the heat map first, under the boxes and labels
    const b = prediction.explanation.box;
    ctx.globalAlpha = 0.5;
    ctx.drawImage(heat, b.x * sx, b.y * sy, b.width * sx, b.height * sy);
    ctx.globalAlpha = 1;
    canvas.dataset.heat = "1";
  }
  const boxes = boxesToDraw(prediction);
  for (const { box: b, face } of boxes) {  // yellow on a dark outline, as on the image cards
    for (const [style, width] of [["rgba(0, 0, 0, 0.6)", 5], ["#ffcc00", 3]]) {
      ctx.strokeStyle = style;
      ctx.lineWidth = width;
      ctx.strokeRect(b.x * sx, b.y * sy, b.width * sx, b.height * sy);
    }
    if (face) {  // every face: its label on a tag above its box
      const text = faceText(face);
      ctx.font = "bold 18px system-ui, sans-serif";
      const x = b.x * sx;
      const y = Math.max(24, b.y * sy);
      ctx.fillStyle = colorOf(face.label);
      ctx.fillRect(x - 2, y - 24, ctx.measureText(text).width + 12, 24);
      ctx.fillStyle = "#ffffff";
      ctx.fillText(text, x + 4, y - 6);
    }
  }
  canvas.dataset.faces = String(prediction.faces ? prediction.faces.length : 0);
  if (prediction.faces && prediction.faces.length) return;  // each face has its label
  const text = faceText(prediction);
  ctx.font = "bold 28px system-ui, sans-serif";
  const width = ctx.measureText(text).width;
  ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
  ctx.fillRect(8, 8, width + 20, 40);
  ctx.fillStyle = colorOf(prediction.label);
  ctx.fillText(text, 18, 38);
}

async function classifyFrame() {
  const video = $("webcam-video");
  if (state.busy || !state.stream || !video.videoWidth) return;
  state.busy = true;
  try {
    const scale = Math.min(1, 640 / video.videoWidth);
    const frame = document.createElement("canvas");
    frame.width = Math.round(video.videoWidth * scale);
    frame.height = Math.round(video.videoHeight * scale);
    frame.getContext("2d").drawImage(video, 0, 0, frame.width, frame.height);
    const blob = await new Promise((resolve) => frame.toBlob(resolve, "image/jpeg", 0.85));
    const started = performance.now();
    const response = await fetch(`predict?${faceOptions()}&filename=webcam.jpg`, {
      method: "POST", body: blob, headers: headers({ "Content-Type": "image/jpeg" }),
    });
    if (!response.ok) throw await apiError(response);
    const prediction = (await response.json()).predictions[0];
    const heat = prediction.explanation ? await heatCanvas(prediction.explanation) : null;
    if (!state.stream) return;
    state.frames += 1;
    drawOverlay(prediction, frame.width, frame.height, heat);
    const p = prediction.probabilities[prediction.label];
    const where = prediction.faces && prediction.faces.length > 1
      ? `largest of ${prediction.faces.length} faces`
      : prediction.region === "face" ? "face" : "whole frame";
    $("webcam-label").textContent = `${prediction.label} (${(100 * p).toFixed(0)}%, ${where})`;
    $("webcam-label").dataset.label = prediction.label;
    $("webcam-stats").textContent =
      `${state.frames} frames classified · last round trip ${(performance.now() - started).toFixed(0)} ms`;
    $("webcam-message").textContent = "";
  } catch (err) {
    $("webcam-message").textContent = err.message;
  } finally {
    state.busy = false;
  }
}

function schedule() {
  clearInterval(state.timer);
  state.timer = setInterval(classifyFrame, Number($("webcam-interval").value));
}

async function startWebcam() {
  $("webcam-message").textContent = "";
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("webcam-message").textContent =
      "This browser gives no camera access here (it needs https or http://localhost).";
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    $("webcam-message").textContent = `Camera unavailable: ${err.message}`;
    return;
  }
  $("webcam-video").srcObject = state.stream;
  $("webcam-start").disabled = true;
  $("webcam-stop").disabled = false;
  state.frames = 0;
  schedule();
}

function stopWebcam() {
  clearInterval(state.timer);
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $("webcam-video").srcObject = null;
  drawOverlay(null, 1, 1);
  $("webcam-start").disabled = false;
  $("webcam-stop").disabled = true;
}

// ------------------------------------------------------------------ wiring
function selectTab(name) {
  for (const tab of ["images", "webcam"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name !== "webcam") stopWebcam();
}

function init() {
  $("tab-images").addEventListener("click", () => selectTab("images"));
  $("tab-webcam").addEventListener("click", () => selectTab("webcam"));
  $("file-input").addEventListener("change", (event) => {
    classifyFiles(event.target.files);
    event.target.value = "";
  });
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    const files = Array.from(e.dataTransfer.files).filter((f) => f.type.startsWith("image/") || !f.type);
    if (files.length) classifyFiles(files);
  });
  $("explain").addEventListener("change", () => {
    const on = $("explain").checked;
    document.body.classList.toggle("hide-heat", !on);
    if (!on) return;
    // Cards classified without a heat map ask for one now, state.maxFiles at a time.
    const missing = Array.from(document.querySelectorAll(".result[data-status=done]"))
      .filter((card) => !card.dataset.heat && card.file);
    for (let i = 0; i < missing.length; i += state.maxFiles) {
      classifyCards(missing.slice(i, i + state.maxFiles));
    }
  });
  $("webcam-start").addEventListener("click", startWebcam);
  $("webcam-stop").addEventListener("click", stopWebcam);
  $("webcam-interval").addEventListener("change", () => { if (state.stream) schedule(); });
  $("api-key").value = state.apiKey;
  $("key-panel").addEventListener("submit", (event) => {
    event.preventDefault();
    state.apiKey = $("api-key").value.trim();
    sessionStorage.setItem("skmood-api-key", state.apiKey);
    loadModelInfo();
  });
  loadModelInfo();
}

init();
