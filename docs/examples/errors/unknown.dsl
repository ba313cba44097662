// errors/unknown.dsl — deliberately invalid, an unknown name: the example of docs/dsl.md §14.
sym B

export fn scale(x: f32[B, 8]) -> f32[B, 8] {
  hidden = x * 2.0
  return hiden
}
