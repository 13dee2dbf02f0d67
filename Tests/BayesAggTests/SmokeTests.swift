import Tensors
import Testing

@Suite("Random generator")
struct RandomGeneratorTests {
  @Test("the same seed gives the same stream")
  func sameSeed() {
    var a = RandomGenerator(seed: 7)
    var b = RandomGenerator(seed: 7)
    #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
  }
}
