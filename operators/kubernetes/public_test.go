package kubernetes_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/aiflow-go/aiflow/operators/kubernetes"
)

// TestPodPublicDescription: the containers' commands and arguments, which
// may hold credentials, are left out; the namespace and images are shown.
func TestPodPublicDescription(t *testing.T) {
	pod := podTemplate()
	pod.Spec.Containers[0].Args = []string{"--token", "s3cr3t"}
	op := kubernetes.Pod(kubernetes.PodConfig{Client: k8sfake.NewClientset(), Pod: pod, Namespace: "ml"})
	require.Equal(t, "namespace=ml; main=trainer:1", op.PublicDescribe())
	require.Contains(t, op.Describe(), "s3cr3t", "Describe, which makes the version, keeps everything")
}
