package operators

// The public descriptions of the operators (aiflow.PublicDescriber): what
// the dashboard and the HTTP API show of an operator to anyone who may see
// its workflow. Each operator marks secret the fields a credential may be
// written into, free text above all (commands, SQL, arguments, options,
// environment values), and its public description shows them as
// aiflow.Redacted; the structural fields (executable, master, deploy mode,
// names, application and script paths, targets) are shown. Bash marks its
// whole command secret and has no public description: it is shown by its
// type alone. To keep a credential out of every description, pass it with
// the task's WithEnv and refer to it (${NAME} in arguments, $NAME in a
// command).

import (
	"maps"
	"strings"

	"github.com/aiflow-go/aiflow"
)

// redacted returns as many aiflow.Redacted as xs has elements.
func redacted(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	out := make([]string, len(xs))
	for i := range out {
		out[i] = aiflow.Redacted
	}
	return out
}

// PublicDescribe names the function: a Func operator has no configuration.
func (f *FuncOperator) PublicDescribe() string { return f.Describe() }

// PublicDescribe returns the command line with the script's or module's
// arguments (PythonConfig.Args, marked secret) redacted.
func (p *PythonOperator) PublicDescribe() string {
	return strings.Join(p.argv(redacted(p.cfg.Args)), " ")
}

// PublicDescribe returns the command line with the values of EnvVars, the
// SubmitOptions and the ApplicationArgs (marked secret) redacted.
func (s *SparkSubmitOperator) PublicDescribe() string {
	c := *s
	c.cfg.EnvVars = maps.Clone(s.cfg.EnvVars)
	for k := range c.cfg.EnvVars {
		c.cfg.EnvVars[k] = aiflow.Redacted
	}
	c.cfg.SubmitOptions = redacted(s.cfg.SubmitOptions)
	c.cfg.ApplicationArgs = redacted(s.cfg.ApplicationArgs)
	return c.Describe()
}

// PublicDescribe returns the command line with the SQL text and the Options
// (marked secret) redacted; a File is shown.
func (s *SparkSQLOperator) PublicDescribe() string {
	c := *s
	if c.cfg.SQL != "" {
		c.cfg.SQL = aiflow.Redacted
	}
	c.cfg.Options = redacted(s.cfg.Options)
	return c.Describe()
}

// PublicDescribe returns the submitting command line with the
// ApplicationArgs, CommandOptions and ClusterOptions (marked secret)
// redacted.
func (f *FlinkOperator) PublicDescribe() string {
	c := *f
	c.cfg.ApplicationArgs = redacted(f.cfg.ApplicationArgs)
	c.cfg.CommandOptions = redacted(f.cfg.CommandOptions)
	c.cfg.ClusterOptions = redacted(f.cfg.ClusterOptions)
	return c.Describe()
}
