// errors/shape.dsl — deliberately invalid, a shape mismatch (matmul without transpose_b): the example of docs/dsl.md §14.
sym B
sym L

export fn project(x: f32[B, L, 64], w: f32[32, 64]) -> f32[B, L, 32] {
  return matmul(x, w)
}
