package exampleenv

import (
	"context"
	"fmt"

	"github.com/aiflow-go/aiflow/store"
)

func openPostgres(context.Context, string) (store.Store, func(), error) {
	return nil, nil, fmt.Errorf("%s is set but this build has no Postgres store yet", DatabaseURLEnv)
}
