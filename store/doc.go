// Package store holds IACE's domain types and the ways they are kept. Agents can
// come from a built-in default or a JSON file until a database backend is configured.
package store
