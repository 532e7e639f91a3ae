//go:build !race

package httpfuzz

const raceBuild = false
