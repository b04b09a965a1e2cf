//! `canopy serve --demo`: a fresh store gets the demo installation — an instance administrator
//! and the organisation `acme` of `demo.yaml` — so that the README's first command shows the
//! product answering. A store that already holds something is used as it is.

use canopy_api as api;
use canopy_core::engine::Actor;
use canopy_core::installation::Request;
use canopy_core::messages::Lang;
use canopy_core::model::Policy;
use canopy_core::name::Name;
use canopy_server::translate::{Planned, planned_request};
use canopy_store::{SecretOp, SecretOwner, Store, Submission};

use crate::messages::{self, DEMO_PASSWORD};
use crate::store_args::StoreArgs;
use crate::{Failure, init};

/// The demo organisation's name.
pub const ORG: &str = "acme";
/// Its first administrator (the instance administrator is `admin`).
pub const ORG_ADMIN: &str = "aiko";

/// Creates the demo installation in an empty store, and prints how to log in.
pub async fn setup(store: &StoreArgs) -> Result<(), Failure> {
    let s = Store::open(&store.location()).await?;
    if s.schema_version().await?.is_some() && s.head().await? > 0 {
        println!("{}", messages::demo(Lang::En));
        return Ok(());
    }
    let (shared, writer) = init(store, "admin", DEMO_PASSWORD).await?;
    let org_admin = name(ORG_ADMIN)?;
    let created = submit(
        &writer,
        Actor::instance_admin("admin"),
        Request::CreateOrg {
            name: name(ORG)?,
            admin: org_admin.clone(),
            policy: Policy::default(),
        },
        vec![(SecretOwner::Created(org_admin), Some(DEMO_PASSWORD.into()))],
    )
    .await?;
    let org = created
        .change
        .effects
        .org()
        .cloned()
        .ok_or_else(|| Failure("the demo organisation was not created".into()))?;
    let (planned, admin) = {
        let inst = shared.read();
        let engine = inst
            .org(&org)
            .ok_or_else(|| Failure("the demo organisation was not created".into()))?;
        let admin = engine
            .find_principal(&format!("user:{ORG_ADMIN}"), None)
            .ok_or_else(|| Failure("the demo administrator was not created".into()))?;
        (plan(engine)?, admin)
    };
    submit(
        &writer,
        Actor::subject(admin, Default::default()),
        Request::Org {
            org,
            commands: planned.commands,
        },
        planned.passwords,
    )
    .await?;
    println!("{}", messages::demo(Lang::En));
    Ok(())
}

/// The commands of `demo.yaml`, translated as `POST /apply` would translate them.
fn plan(engine: &canopy_core::engine::OrgEngine) -> Result<Planned, Failure> {
    let text = include_str!("demo.yaml").replace("${DEMO_PASSWORD}", DEMO_PASSWORD);
    let request: api::ApplyRequest = serde_norway::from_str(&text)?;
    let mut all = Planned::default();
    for (i, r) in request.commands.iter().flatten().enumerate() {
        let one = planned_request(engine, r, i, Lang::En).map_err(|e| Failure(e.detail))?;
        all.extend(one);
    }
    Ok(all)
}

/// Submits one request with its passwords (hashed here), durable when this returns.
async fn submit(
    writer: &canopy_store::Writer,
    actor: Actor,
    request: Request,
    passwords: Vec<(SecretOwner, Option<String>)>,
) -> Result<canopy_store::Committed, Failure> {
    let mut secrets = Vec::new();
    for (owner, password) in passwords {
        let value = match password {
            Some(p) => Some(canopy_server::credentials::hash_password(&p).map_err(Failure)?),
            None => None,
        };
        secrets.push(SecretOp {
            owner,
            kind: "password".into(),
            value,
        });
    }
    Ok(writer
        .submit(Submission {
            actor,
            request,
            request_id: "demo".into(),
            secrets,
            expect: None,
        })
        .await?)
}

fn name(text: &str) -> Result<Name, Failure> {
    Name::parse(text).map_err(|p| Failure(format!("{text}: {p:?}")))
}
