package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/aiflow-go/aiflow/store"
)

// AddNamespace adds a namespace.
func (s *Store) AddNamespace(ctx context.Context, name string) error {
	if err := store.ValidateName("namespace", name); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.q("INSERT INTO {s}.aiflow_namespace (name) VALUES ($1) ON CONFLICT DO NOTHING"), name)
	if err != nil {
		return opErr("add namespace", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: namespace %q", store.ErrAlreadyExists, name)
	}
	return nil
}

// ListNamespaces lists namespaces by name.
func (s *Store) ListNamespaces(ctx context.Context) ([]store.NamespaceRecord, error) {
	rows, err := s.pool.Query(ctx, s.q("SELECT name, created_at FROM {s}.aiflow_namespace ORDER BY name"))
	if err != nil {
		return nil, opErr("list namespaces", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.NamespaceRecord, error) {
		var n store.NamespaceRecord
		err := r.Scan(&n.Name, &n.CreatedAt)
		return n, err
	})
	return out, opErr("list namespaces", err)
}

// DeleteNamespace deletes an empty namespace other than default.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	return opErr("delete namespace", s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		var workflow *string
		err := tx.QueryRow(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM {s}.aiflow_namespace WHERE name = $1 FOR UPDATE),
			(SELECT name FROM {s}.aiflow_workflow WHERE namespace = $1 ORDER BY name LIMIT 1)`), name).Scan(&exists, &workflow)
		if err != nil {
			return err
		}
		switch {
		case !exists:
			return fmt.Errorf("%w: %q", store.ErrNamespaceNotFound, name)
		case name == store.DefaultNamespace:
			return fmt.Errorf("%w: namespace %q cannot be deleted", store.ErrConflict, name)
		case workflow != nil:
			return fmt.Errorf("%w: namespace %q still has workflow %q: delete its workflows first", store.ErrNamespaceNotEmpty, name, *workflow)
		}
		_, err = tx.Exec(ctx, s.q("DELETE FROM {s}.aiflow_namespace WHERE name = $1"), name)
		return err
	}))
}

func namespaceNotFound(name string) error {
	return fmt.Errorf("%w: %q: add it with Client.AddNamespace or \"aiflow namespace add %s\"", store.ErrNamespaceNotFound, name, name)
}
