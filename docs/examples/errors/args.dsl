// errors/args.dsl — deliberately invalid, a call with the wrong number of arguments: the example of docs/dsl.md §14.
sym B

fn linear(x: f32[B, I], w: f32[O, I], b: f32[O]) -> f32[B, O] {
  return matmul(x, w, transpose_b = true) + b
}

export fn project(x: f32[B, 64], w: f32[32, 64]) -> f32[B, 32] {
  return linear(x, w)
}
