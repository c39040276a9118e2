// The label the SVFR Task node shows: same wording as the node's own text output (nodes/task.py).
const TASKS = [
  ["bfr", "BFR"],
  ["colorization", "colorization"],
  ["inpainting", "inpainting"],
];

export function svfrTaskLabel(values) {
  const on = TASKS.filter(([name]) => values[name]).map(([, label]) => label);
  return on.length ? on.join(" + ") : "no task selected";
}

export function svfrTaskValid(values) {
  return TASKS.some(([name]) => values[name]);
}
