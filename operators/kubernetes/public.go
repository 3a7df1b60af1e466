package kubernetes

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PublicDescribe is Describe with the containers' commands and arguments
// (marked secret: a credential may be written into them) left out: the
// namespace, Job mode, and each container's name and image
// (aiflow.PublicDescriber). Environment values are in neither description.
func (k *PodOperator) PublicDescribe() string {
	parts := []string{"namespace=" + k.cfg.Namespace}
	var containers []corev1.Container
	switch {
	case k.cfg.Job != nil:
		parts = append(parts, "job")
		containers = k.cfg.Job.Spec.Template.Spec.Containers
	case k.cfg.Pod != nil:
		containers = k.cfg.Pod.Spec.Containers
	}
	for _, c := range containers {
		parts = append(parts, fmt.Sprintf("%s=%s", c.Name, c.Image))
	}
	return strings.Join(parts, "; ")
}
