package console

import (
	"bytes"
	_ "embed"
	"net/http"
)

//go:embed openapi.yaml
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document of the console's JSON API (YAML),
// as the handler serves it at openapi.yaml. Its paths are relative to
// where the handler is mounted.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

// GET /openapi.yaml.
func (h *handler) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPIDoc)
}
