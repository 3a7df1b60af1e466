// Package kubernetes holds the Kubernetes operator of AIFlow for Go: Pod runs
// each task execution as a pod, or as a batch/v1 Job, created from a
// template with client-go, follows it and copies its log into the task log.
//
// It is a Go module of its own, so that only the programs that run tasks on
// Kubernetes compile client-go and carry it in their module graph:
//
//	go get github.com/aiflow-go/aiflow/operators/kubernetes
//
// Its package name is the same as client-go's clientset package; import one
// of them under another name when a file needs both:
//
//	import (
//		"k8s.io/client-go/kubernetes"
//		k8sop "github.com/aiflow-go/aiflow/operators/kubernetes"
//	)
//
//	wf.Task("train", k8sop.Pod(k8sop.PodConfig{Client: clientset, Pod: template}))
//
// Import rule: this package imports the root package aiflow (for Operator and
// TaskContext), the standard library and the Kubernetes client libraries.
package kubernetes
