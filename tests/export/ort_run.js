#!/usr/bin/env node
// Runs ONNX models in ONNX Runtime (the npm package onnxruntime-node, CPU) on inputs given in a
// JSON file and writes the outputs as JSON:
//   NODE_PATH=<dir>/node_modules node ort_run.js IN.json OUT.json
// IN.json:  {"runs": [{"model": "m.onnx", "inputs": {"image": {"type": "float32", "dims": [2, 1, 28, 28],
//            "data": [...]}, "text": {"type": "int64", ...}}}, ...]}
// OUT.json: {"runs": [{"outputs": {"digit": {"dims": [2, 10], "data": [...]}}}, ...]}
// One process for many runs: sessions are created once per model file.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [inFile, outFile] = process.argv.slice(2);
  if (!inFile || !outFile) throw new Error('usage: node ort_run.js IN.json OUT.json');
  const request = JSON.parse(fs.readFileSync(inFile, 'utf8'));
  const sessions = {};
  const runs = [];
  for (const run of request.runs) {
    if (!sessions[run.model]) {
      sessions[run.model] = await ort.InferenceSession.create(run.model, {
        intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all'});
    }
    const feeds = {};
    for (const [name, t] of Object.entries(run.inputs)) {
      const data = t.type === 'int64' ? BigInt64Array.from(t.data.map((v) => BigInt(v)))
                                      : Float32Array.from(t.data);
      feeds[name] = new ort.Tensor(t.type, data, t.dims);
    }
    const result = await sessions[run.model].run(feeds);
    const outputs = {};
    for (const [name, t] of Object.entries(result)) {
      outputs[name] = {dims: t.dims.map(Number), data: Array.from(t.data, Number)};
    }
    runs.push({outputs});
  }
  fs.writeFileSync(outFile, JSON.stringify({runs}));
}

main().catch((e) => { console.error('ort_run: ' + e.message); process.exit(1); });
