package httpapi

// LoadOpenAPI exposes loadOpenAPI to the external test package (the spec
// checker in specvalidate_test.go).
var LoadOpenAPI = loadOpenAPI
