// GCC plugin (for the sh4-linux-gnu gcc 12 cross compiler): force the gate of
// the SH-specific RTL passes "sh_treg_combine2"/"sh_treg_combine3" to false.
// In Debian's gcc-12 12.2.0-13cross1 these passes delete the T-bit test
// (tst/cmp) in front of conditional branches, e.g. `if (!p)` after a load,
// producing wrong code.  Usage: -fplugin=<dir>/no_treg_combine.so
#include "gcc-plugin.h"
#include "plugin-version.h"
#include "tree-pass.h"
#include <cstring>

int plugin_is_GPL_compatible;

static void gate_cb(void *gcc_data, void *)
{
	if (current_pass && current_pass->name &&
	    !strncmp(current_pass->name, "sh_treg_combine", 15))
		*(bool *)gcc_data = false;
}

int plugin_init(struct plugin_name_args *info, struct plugin_gcc_version *ver)
{
	if (!plugin_default_version_check(ver, &gcc_version))
		return 1;
	register_callback(info->base_name, PLUGIN_OVERRIDE_GATE, gate_cb, NULL);
	return 0;
}
