//! The admin web app (flow builder, simulator, settings, dashboard), served by the binary under
//! `/admin`: a fixed set of files embedded at build time, with the console's strict headers.

use crate::routes::console::asset;
use actix_web::{HttpResponse, get, web};

/// Every file of the app: its name under `/admin/` and its content type.
const FILES: &[(&str, &str, &str)] = &[
    ("admin.css", include_str!("../admin/admin.css"), "text/css; charset=utf-8"),
    ("api.js", include_str!("../admin/api.js"), "text/javascript; charset=utf-8"),
    ("app.js", include_str!("../admin/app.js"), "text/javascript; charset=utf-8"),
    ("canvas.js", include_str!("../admin/canvas.js"), "text/javascript; charset=utf-8"),
    ("builder.js", include_str!("../admin/builder.js"), "text/javascript; charset=utf-8"),
    ("dashboard.js", include_str!("../admin/dashboard.js"), "text/javascript; charset=utf-8"),
    ("model.js", include_str!("../admin/model.js"), "text/javascript; charset=utf-8"),
    ("settings.js", include_str!("../admin/settings.js"), "text/javascript; charset=utf-8"),
    ("simulator.js", include_str!("../admin/simulator.js"), "text/javascript; charset=utf-8"),
];
const INDEX: &str = include_str!("../admin/index.html");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(index).service(index_slash).service(file);
}

#[get("/admin")]
async fn index() -> HttpResponse {
    asset(INDEX, "text/html; charset=utf-8")
}

#[get("/admin/")]
async fn index_slash() -> HttpResponse {
    asset(INDEX, "text/html; charset=utf-8")
}

#[get("/admin/{file}")]
async fn file(name: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, body, content_type)) => asset(body, content_type),
        None => HttpResponse::NotFound().finish(),
    }
}
