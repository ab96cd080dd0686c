//! A group ktti of three with money in it, for the split and receipt tests.

use super::TestApp;
use super::group::{Person, Sender, banking, card, deposit, group, join, pay_in, person_named};
use super::pot::sandbox_raw;
use serde_json::{Value, json};

/// A group of three (Pia owns it; Sam and Kim joined) and Pia's card on it.
pub struct Trip {
    pub pia: Person,
    pub sam: Person,
    pub kim: Person,
    pub id: String,
    pub bank: Value,
    pub card_token: String,
}

/// Pia's group with Sam and Kim in it, and Pia's card on it.
pub async fn trip(app: &TestApp) -> Trip {
    let pia = person_named(app, "pia@example.com", "Pia", "Lee").await;
    let sam = person_named(app, "sam@example.com", "Sam", "Tran").await;
    let kim = person_named(app, "kim@example.com", "Kim", "Ng").await;
    let k = group(app, &pia, json!({"name": "Trip"})).await;
    let id = k["id"].as_str().unwrap().to_string();
    for p in [&sam, &kim] {
        assert_eq!(join(app, p, k["referralCode"].as_str().unwrap()).await.status(), 200);
    }
    let bank = banking(app, &pia, &id).await;
    let card_token = card(app, &pia, &id).await["cardToken"].as_str().unwrap().to_string();
    Trip {
        pia,
        sam,
        kim,
        id,
        bank,
        card_token,
    }
}

/// `who` pays `amount` in with their own deposit reference.
pub async fn pays_in(app: &TestApp, t: &Trip, who: &Person, amount: &str, key: &str) {
    let reference = banking(app, who, &t.id).await["depositReference"]
        .as_str()
        .unwrap()
        .to_string();
    let from = Sender {
        name: "SOMEONE",
        bsb: "062000",
        account: "99887766",
        reference: &reference,
    };
    pay_in(app, &t.bank, amount, key, &from).await;
    deposit(app, &t.pia.token, &t.id, amount).await;
}

/// A card payment on Pia's card, settled at once; our transaction once booked.
pub async fn spend(app: &TestApp, t: &Trip, amount: &str) -> Value {
    let raw = format!(
        r#"{{"amount": {amount}, "cardToken": "{}", "settlementDelayInSeconds": 0}}"#,
        t.card_token
    );
    assert_eq!(
        sandbox_raw(app, "/v0/utils/generate-card-transaction", raw)
            .await
            .status(),
        200
    );
    booked(app, t, "cardPayment&status=posted", amount).await
}

/// The transaction of `kind` (a query) and `amount`, once booked.
pub async fn booked(app: &TestApp, t: &Trip, kind: &str, amount: &str) -> Value {
    app.eventually(&format!("a {kind} of {amount}"), || async {
        let page: Value = app
            .get_auth(
                &format!("/api/v2/ktties/{}/transactions?type={kind}&pageSize=100", t.id),
                &t.pia.token,
            )
            .await
            .json()
            .await
            .ok()?;
        page["items"]
            .as_array()?
            .iter()
            .find(|x| x["amount"] == amount)
            .cloned()
    })
    .await
}
