// errors/type.dsl — deliberately invalid, a type error (f32 + f64): the example of docs/dsl.md §14.
sym B

export fn add(x: f32[B, 8], y: f64[B, 8]) -> f32[B, 8] {
  return x + y
}
