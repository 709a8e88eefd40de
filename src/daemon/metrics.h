/*
 * The public routes of the API (see api.h): /healthz, /readyz[/NAME],
 * /metrics (Prometheus text format, version 0.0.4).
 */
#ifndef TEND_METRICS_H
#define TEND_METRICS_H

#include "daemon/api.h"

route_fn r_healthz;
route_fn r_readyz;
route_fn r_metrics;
/* Stop a count of the system's processes under way (api_free). */
void metrics_done(struct api *a);

#endif
