// Sizes read from a file (an array's shape, an image's width and height) are multiplied before anything
// is allocated; a product that overflows Int must be a parse error, not a trap.

/// The product of `factors` (1 for none), or nil when a factor is negative or the product overflows Int.
public func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for f in factors {
        guard f >= 0 else { return nil }
        let (p, overflow) = product.multipliedReportingOverflow(by: f)
        if overflow { return nil }
        product = p
    }
    return product
}
