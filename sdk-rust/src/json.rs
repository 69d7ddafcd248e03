//! [`Json<T>`]: any serde type as binding data.

use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::FunctionError;
use crate::convert::{FromTypedData, IntoTypedData, kind_of, parse_json, typed};

/// A serde value read from or written to a binding as JSON.
///
/// ```
/// # use fnwire::Json;
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Order { id: u32 }
/// let Json(order) = Json(Order { id: 7 });
/// assert_eq!(order.id, 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// On an HTTP trigger, `Json<T>` is the request's body (a body that does not fit is a 400).
impl<T: DeserializeOwned> FromTypedData for Json<T> {
    const INPUT_KIND: crate::bind::InputKind = crate::bind::InputKind::Any;

    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        let what = format!("the data for `{}`", std::any::type_name::<T>());
        if let Some(Data::Http(http)) = data.data {
            let request = crate::HttpRequest::from_rpc(*http)?;
            return request.json::<T>().map(Json).map_err(|e| {
                FunctionError::new(e.to_string()).with_http_status(http::StatusCode::BAD_REQUEST)
            });
        }
        match &data.data {
            Some(Data::Json(text)) | Some(Data::String(text)) => parse_json(text.as_bytes(), &what).map(Json),
            Some(Data::Bytes(b)) | Some(Data::Stream(b)) => parse_json(b, &what).map(Json),
            _ => {
                // Numbers and collections: go through a JSON value.
                let kind = kind_of(&data);
                let value = crate::convert::json_of(data)
                    .map_err(|_| FunctionError::new(format!("expected JSON, but the host sent {kind}")))?;
                serde_json::from_value(value)
                    .map(Json)
                    .map_err(|e| FunctionError::new(format!("{what} does not have the expected shape: {e}")))
            }
        }
    }
}

impl<T: Serialize> IntoTypedData for Json<T> {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        serde_json::to_string(&self.0).map(|text| typed(Data::Json(text))).map_err(|e| {
            FunctionError::new(format!("could not serialize `{}` as JSON: {e}", std::any::type_name::<T>()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
    struct Order {
        id: u32,
    }

    #[test]
    fn round_trips_and_reports_bad_shapes() {
        let data = Json(Order { id: 3 }).into_typed_data().unwrap();
        assert_eq!(data, typed(Data::Json("{\"id\":3}".into())));
        assert_eq!(Json::<Order>::from_typed_data(data).unwrap().0, Order { id: 3 });
        let err = Json::<Order>::from_typed_data(typed(Data::String("{\"id\":\"x\"}".into()))).unwrap_err();
        assert!(err.message.contains("does not have the expected shape"), "{err}");
        assert!(err.message.contains("Order"), "{err}");
    }
}
