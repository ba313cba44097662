// errors/syntax.dsl — deliberately invalid, a syntax error: the example of docs/dsl.md §14.
sym B

fn double(x: f32[B, 8]) -> f32[B, 8] {
  return x + )
}
