// Package deploy holds no code: its tests check the deployment artefacts
// (the Containerfile through `make image`, compose.yaml and the Kubernetes
// manifests under kubernetes/) against the binary they ship, so that a
// renamed route, port, setting or command breaks a test instead of a
// rollout.
package deploy
