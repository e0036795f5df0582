// Package k6 holds calls.js, a k6 script that places Telnyx-style media-stream
// calls against IACE. The package has no Go code; its test checks the script.
package k6
