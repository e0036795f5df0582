// Package k6 holds the k6 load scripts for IACE: calls.js places
// Telnyx-style media-stream calls that speak recorded speech, api.js loads
// the control API with reads and writes. The package has no Go code; its
// tests run the scripts under node with stubs of the k6 modules
// (testdata/k6stub, testdata/harness.mjs), since k6 itself cannot be
// installed where the tests run.
package k6
